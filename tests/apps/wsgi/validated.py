"""The basic app wrapped in wsgiref.validate: any PEP 3333 violation by the server raises."""

import os
import sys
from wsgiref.validate import validator

sys.path.insert(0, os.path.dirname(__file__))
from basic import application as inner

application = validator(inner)
