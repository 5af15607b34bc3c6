"""``python -m crawler`` is ``wiremirror``."""

from crawler.cli import main

raise SystemExit(main())
