"""Tests of infra/ (Bicep parsed with pycep-parser) against the code it deploys."""
