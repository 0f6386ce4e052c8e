"""``python -m medgan_aug.cli``, the form torchrun launches."""

from . import main

raise SystemExit(main())
