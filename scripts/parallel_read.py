"""Sphinx extension (loaded from `_config.yml`): lets Sphinx read, and so execute, the chapters in parallel.

Sphinx reads pages in parallel processes only when every extension declares itself safe for it, and it
merges each process's domain data back into the main one. Three extensions that the book loads fall short
of that without being unsafe:
- sphinx-multitoc-numbering (it numbers sections in the main process, after reading) and
  sphinx-jupyterbook-latex (node types and LaTeX-only transforms) declare nothing;
- sphinx-proof declares itself safe but its `prf` domain has no `merge_domaindata`. Its domain data holds
  nothing per page: the theorems live in `env.proof_list`, which sphinx-proof merges itself (env-merge-info).
None keeps per-page state that a merge would lose, so this declares the first two safe and gives the `prf`
domain a merge with nothing to merge. `scripts/build_book.py` sets the number of processes; a plain
`jupyter-book build` reads one page at a time, as before.
"""
from __future__ import annotations

from sphinx_proof.domain import ProofDomain

UNDECLARED_SAFE = ("sphinx_multitoc_numbering", "sphinx_jupyterbook_latex")


def declare_safe(app) -> None:
    for name in UNDECLARED_SAFE:
        extension = app.extensions.get(name)
        if extension is not None and extension.parallel_read_safe is None:
            extension.parallel_read_safe = True


def merge_nothing(self, docnames, otherdata) -> None:
    """ProofDomain.data is Domain's empty default in every process: nothing to merge."""


def setup(app):
    if "merge_domaindata" not in vars(ProofDomain):
        ProofDomain.merge_domaindata = merge_nothing
    app.connect("builder-inited", declare_safe)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
