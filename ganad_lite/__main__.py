from .cli import main

if __name__ == "__main__":  # not in the spawned worker processes of a run (they import this module again)
    raise SystemExit(main())
