"""`repro report`'s era-agnostic machinery: collecting run records (collect.py),
Markdown (markdown.py), summaries over seeds (summary.py), plots (plots.py),
the per-run table (run_table.py), experiment tables (experiment_table.py) and
results/REPORT.md (index.py). What each era adds (its tables, figures and
published numbers) is its report plug-in, found through reporter.py."""
