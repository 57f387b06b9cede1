"""The ``qsr`` command line (installed as the package ``qsr_cli``)."""
