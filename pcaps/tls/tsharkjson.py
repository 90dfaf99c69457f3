"""What pcaps/tls/check.py and pcaps/tls-grpc/check.py share: reading tshark's `-T json` output
and collecting mismatches (`check` appends to `failures`; the caller exits 1 if any)."""

VERSION = {0x0303: "1.2", 0x0304: "1.3"}
failures = []


def check(what, got, want):
    if got != want:
        failures.append(f"{what}: got {got!r}, want {want!r}")


def dicts_with(obj, key):
    """Every dict under obj (depth first, in order) that has key."""
    if isinstance(obj, dict):
        if key in obj:
            yield obj
        for v in obj.values():
            yield from dicts_with(v, key)
    elif isinstance(obj, list):
        for v in obj:
            yield from dicts_with(v, key)


def values(obj, key):
    out = []
    for d in dicts_with(obj, key):
        v = d[key]
        out.extend(v if isinstance(v, list) else [v])
    return out
