"""SQL of `intentml replay`: a scratch schema of read-model tables, the archive read from
offset 0 and its tail, and the switch.

Read models are rebuilt into tables of a scratch schema (`CREATE TABLE ... (LIKE public.x
INCLUDING ALL)`: the same columns in the same order, defaults, indexes and checks), then
moved into `public` in one transaction while the old ones move out.
"""

#: What `--projection NAME` rebuilds: groups of read-model tables. Every foreign key stays
#: inside its group (versions and deployments reference models), so a group can be
#: switched on its own. Not rebuilt: `events` (the archive is the source), `projection_offsets`
#: (the rebuild ends exactly at the live projector's offsets, so they stay valid),
#: `stream_heads` (the appenders' chain heads), `rate_limit_buckets` and `idempotency_keys`
#: (not projections).
PROJECTIONS: dict[str, tuple[str, ...]] = {
    "models": ("models", "versions", "deployments"),
    "build_logs": ("build_logs",),
    "uploads": ("uploads",),
    "keys": ("accounts", "api_keys"),
    "fold": ("aggregates",),
}
#: Every table the projector writes, in an order that creates referenced tables first.
TABLES: tuple[str, ...] = tuple(t for group in PROJECTIONS.values() for t in group)
#: The table a rebuild writes while it reads the log: insert-only, so each row is final
#: when it is made. The others are written whole at the end, then get their keys and
#: indexes: one sort each costs far less than keeping them up row by row.
STREAMED = "build_logs"
#: Of the streamed table's keys and indexes, those sorted once after the load. The others
#: (the key by log position, the index by account and time) take each new row at one of a
#: few places, as rows arrive in log order, so PostgreSQL keeps them up cheaply on its own
#: core while the rebuild folds on the other. These take rows all over the tree, which
#: costs more row by row than one sort (measured: 1M events in 16.7 s this way; 20.8 s
#: with all kept up during the load; 22.2 s with all sorted after it).
SORTED_AFTER_LOAD = ("build_logs_job", "build_logs_model")


def create_schema(schema: str) -> str:
    """The scratch schema."""
    return f'CREATE SCHEMA "{schema}"'


def drop_schema(schema: str) -> str:
    """The scratch (or retired) schema, with whatever tables it still holds."""
    return f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'


def create_like(schema: str, table: str) -> str:
    """An empty copy of a live read-model table in the scratch schema: columns, defaults
    and checks, but no keys, indexes or foreign keys yet (see `CONSTRAINTS`, `INDEXES`)."""
    return (
        f'CREATE TABLE "{schema}".{table} '
        f"(LIKE public.{table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
    )


#: The keys and foreign keys of the live tables: name, table and definition, primary and
#: unique keys first (a foreign key needs the key it references). `pg_get_constraintdef`
#: names a referenced table unqualified when it is on the search path, so run them with
#: the scratch schema first on it.
CONSTRAINTS = """
SELECT 'constraint' AS kind, c.conname AS name, t.relname AS "table",
       pg_get_constraintdef(c.oid) AS definition
FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE c.contype IN ('p', 'u', 'f') AND n.nspname = 'public' AND t.relname = ANY($1::text[])
ORDER BY c.contype = 'f', t.relname, c.conname
"""


def add_constraint(schema: str, table: str, name: str, definition: str) -> str:
    """Re-create a live table's key or foreign key, by the same name, on its copy."""
    return f'ALTER TABLE "{schema}".{table} ADD CONSTRAINT "{name}" {definition}'


#: The other indexes of the live tables (not those behind a key): name and definition.
INDEXES = """
SELECT 'index' AS kind, i.relname AS name, t.relname AS "table",
       pg_get_indexdef(i.oid) AS definition
FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE n.nspname = 'public' AND t.relname = ANY($1::text[])
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
ORDER BY t.relname, i.relname
"""


def in_schema(index_definition: str, schema: str) -> str:
    """A live index's definition (`CREATE INDEX name ON public.table ...`), on the copy."""
    return index_definition.replace(" ON public.", f' ON "{schema}".', 1)


#: Building the indexes after the load sorts each table once: give the sorts memory.
INDEX_MEMORY = "SET maintenance_work_mem = '256MB'"


#: The partitions the archive can hold: those of the live projector's offsets, which it
#: writes in the transaction that archives their events.
ARCHIVED_PARTITIONS = """
SELECT partition FROM public.projection_offsets WHERE projection = 'main' ORDER BY partition
"""
#: One partition of the archive in log order from an offset on, read through a cursor:
#: partitions are read one after another (their order relative to each other does not
#: matter: every stream lives in one partition). A declared cursor is planned to deliver
#: its first rows soon (`cursor_tuple_fraction`): an index range scan. A query planned to
#: be read whole would sort the partition instead, hundreds of megabytes, before the
#: first row.
DECLARE_ARCHIVE_CURSOR = """
DECLARE archive NO SCROLL CURSOR FOR
SELECT partition, "offset", accepted, value FROM public.events
WHERE partition = $1 AND "offset" >= $2
ORDER BY "offset"
"""
#: Archive rows per fetch: few, so that folding starts soon after a pass begins.
FETCH_ROWS = 5_000
FETCH_ARCHIVE = f"FETCH {FETCH_ROWS} FROM archive"
CLOSE_ARCHIVE_CURSOR = "CLOSE archive"
#: How many events the archive holds past a position per partition ($1, $2: partitions
#: and next offsets, pairwise), to decide when to take the lock.
COUNT_FROM = """
SELECT COALESCE(sum(n), 0) FROM unnest($1::int[], $2::bigint[]) AS p(partition, next_offset)
CROSS JOIN LATERAL (
    SELECT count(*) AS n FROM public.events e
    WHERE e.partition = p.partition AND e."offset" >= p.next_offset) AS c
"""

#: Taken by the switch: a projector batch starts by inserting and locking its offset rows
#: (ROW EXCLUSIVE / ROW SHARE), which EXCLUSIVE blocks, while the API's plain reads of the
#: offsets go on. So no batch commits between the tail's read and the switch.
LOCK_PROJECTOR = "LOCK TABLE public.projection_offsets IN EXCLUSIVE MODE"


def move(table: str, from_schema: str, to_schema: str) -> str:
    """Move a table (its indexes and constraints go with it)."""
    return f'ALTER TABLE "{from_schema}".{table} SET SCHEMA "{to_schema}"'


def count_rows(schema: str, table: str) -> str:
    """Rows of a table (for the summary)."""
    return f'SELECT count(*) FROM "{schema}".{table}'
