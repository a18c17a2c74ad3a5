# Makes `import marline` find this directory's package when pytest runs from the
# repository root (python3 -m pytest bindings/python).
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
