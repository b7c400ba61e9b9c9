"""The parts of an ECR registry the EcrRegistry kind manages: observe (reads), plan (pure), apply (writes)."""
