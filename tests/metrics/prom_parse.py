"""Parses a Prometheus text exposition with prometheus_client's own parser (not wirespan's
code, not a regex) and prints every sample as a JSON line: {name, labels, value, type}.
Exits non-zero when the text does not parse.

    python3 prom_parse.py FILE
"""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families

text = open(sys.argv[1]).read()
for family in text_string_to_metric_families(text):
    for s in family.samples:
        print(json.dumps({"name": s.name, "labels": s.labels, "value": s.value, "type": family.type}))
