"""``python -m inr_recover.cli``: the ``inr-recover`` command."""
from inr_recover.cli.main import main

main()
