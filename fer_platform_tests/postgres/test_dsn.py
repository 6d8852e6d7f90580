from psycopg.conninfo import conninfo_to_dict

from fer_platform.postgres.dsn import describe, with_azure_defaults


def test_azure_hosts_require_tls():
    uri = "postgresql://admin:pw@pgvector.postgres.database.azure.com:5432/fer_vct"
    assert conninfo_to_dict(with_azure_defaults(uri))["sslmode"] == "require"
    kv = "host=pgvector.postgres.database.azure.com user=admin dbname=fer_vct"
    assert conninfo_to_dict(with_azure_defaults(kv))["sslmode"] == "require"


def test_explicit_sslmode_and_other_hosts_are_kept():
    explicit = "postgresql://a@x.postgres.database.azure.com/db?sslmode=verify-full"
    assert conninfo_to_dict(with_azure_defaults(explicit))["sslmode"] == "verify-full"
    local = "postgresql://postgres:@/postgres?host=/tmp/pg"
    assert with_azure_defaults(local) == local


def test_describe_hides_the_password():
    assert describe("postgresql://admin:s3cret@h.example:6432/db") == "admin@h.example:6432/db"
