#!/usr/bin/env python3
"""LAB STAND-IN for GlitchTip's ./manage.py: only `createsuperuser --noinput` (standin_glitchtip.py)."""
import sys

sys.path.insert(0, "/opt/lab-standin")
from standin_glitchtip import manage  # noqa: E402

manage(sys.argv[1:])
