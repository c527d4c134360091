"""Independent FN acceptance tests, written from the protocol document only (no project imports)."""
