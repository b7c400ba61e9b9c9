"""One module per AWS part. Each has the same small surface: observe (reads), plan (pure), apply (writes)."""
