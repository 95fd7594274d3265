"""An appender that dies by SIGKILL at a chosen moment of `EventLog.append`.

`python -m tests.faults.appender DATABASE_URL BOOTSTRAP TOPIC ACCOUNT MOMENT`:
prints the id of the event it appends, then kills itself (kill -9, no clean-up of
any kind) at MOMENT:
- `claimed`: the event and the new chain head are stored; nothing was produced;
- `acked`: the broker acknowledged the event; the head still says "pending".
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import Any

from intentml.events.envelope import make_event
from intentml.events.log import EventLog, new_producer
from intentml.events.types import DatasetUploaded
from intentml.infra.db import create_pool


def upload(account: str, upload_id: str) -> Any:
    """An account-stream event any test can check in the uploads read model."""
    return make_event(
        DatasetUploaded(
            upload_id=upload_id,
            filename="f.csv",
            format="csv",
            rows=1,
            columns=[],
            size_bytes=1,
            sha256="s",
        ),
        account_id=account,
        actor="test",
    )


async def main(url: str, bootstrap: str, topic: str, account: str, moment: str) -> None:
    pool = await create_pool(url)
    producer = new_producer(bootstrap)
    await producer.start()
    send = producer.send_and_wait

    async def dying_send(*args: Any, **kwargs: Any) -> Any:
        if moment == "claimed":
            os.kill(os.getpid(), signal.SIGKILL)
        meta = await send(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)
        return meta

    producer.send_and_wait = dying_send  # type: ignore[method-assign]
    event = upload(account, f"killed-{moment}")
    print(event.event_id, flush=True)
    await EventLog(producer, pool, topic).append(event)
    raise AssertionError("still alive after the fatal moment")


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))
