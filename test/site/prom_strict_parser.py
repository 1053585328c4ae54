"""prom_strict_parser.py - a small, strict parser of the Prometheus text exposition format 0.0.4.

Strict means it refuses what Prometheus would refuse or what is sloppy: bad metric or label names, bad
escapes in label values, unparsable values, a TYPE or HELP given twice or a TYPE after the family's
samples, samples of one family that are not contiguous, samples whose name does not belong to their
TYPE (e.g. `x_sum` outside a summary/histogram), duplicate series, and a body not ending in a newline.

parse(text) -> {family: {"type": str, "help": str, "samples": [(name, {label: value}, float)]}}
Raises ValueError with the line number on the first problem.
"""
import math
import re

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def _value(s, ln):
    if s in ("NaN", "+Inf", "-Inf", "Inf"):
        return {"NaN": math.nan, "+Inf": math.inf, "Inf": math.inf, "-Inf": -math.inf}[s]
    if not re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", s):
        raise ValueError("line %d: bad value %r" % (ln, s))
    return float(s)


def _labels(s, i, ln):
    """s[i] == '{'; returns (labels, index after '}')."""
    labels = {}
    i += 1
    while True:
        if s[i:i + 1] == "}":
            return labels, i + 1
        m = LABEL.match(s, i)
        if not m:
            raise ValueError("line %d: bad label name at %r" % (ln, s[i:i + 20]))
        name = m.group(0)
        i = m.end()
        if s[i:i + 2] != '="':
            raise ValueError("line %d: expected =\" after label %s" % (ln, name))
        i += 2
        val = []
        while True:
            if i >= len(s):
                raise ValueError("line %d: unterminated label value" % ln)
            c = s[i]
            if c == "\\":
                nxt = s[i + 1:i + 2]
                if nxt not in ("\\", '"', "n"):
                    raise ValueError("line %d: bad escape \\%s" % (ln, nxt))
                val.append("\n" if nxt == "n" else nxt)
                i += 2
            elif c == '"':
                i += 1
                break
            elif c == "\n":
                raise ValueError("line %d: newline in label value" % ln)
            else:
                val.append(c)
                i += 1
        if name in labels:
            raise ValueError("line %d: label %s twice" % (ln, name))
        labels[name] = "".join(val)
        if s[i:i + 1] == ",":
            i += 1
        elif s[i:i + 1] != "}":
            raise ValueError("line %d: expected , or } after label %s" % (ln, name))


def _family_of(name, families):
    for suffix in ("_sum", "_count", "_bucket"):
        if name.endswith(suffix):
            base = name[:-len(suffix)]
            if base in families and families[base]["type"] in ("summary", "histogram"):
                if suffix == "_bucket" and families[base]["type"] != "histogram":
                    break
                return base
    return name


def parse(text):
    if text and not text.endswith("\n"):
        raise ValueError("body does not end with a newline")
    families = {}
    done = set()          # families whose samples are finished (another family started)
    current = None
    seen = set()
    for ln, line in enumerate(text.split("\n")[:-1] if text else [], 1):
        if line == "":
            continue
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                if not NAME.fullmatch(name):
                    raise ValueError("line %d: bad metric name %r" % (ln, name))
                fam = families.setdefault(name, {"type": "untyped", "help": None, "samples": [], "typed": False})
                if parts[1] == "TYPE":
                    t = parts[3] if len(parts) > 3 else ""
                    if t not in TYPES:
                        raise ValueError("line %d: bad type %r" % (ln, t))
                    if fam["typed"]:
                        raise ValueError("line %d: TYPE of %s twice" % (ln, name))
                    if fam["samples"]:
                        raise ValueError("line %d: TYPE of %s after its samples" % (ln, name))
                    fam["type"], fam["typed"] = t, True
                else:
                    if fam["help"] is not None:
                        raise ValueError("line %d: HELP of %s twice" % (ln, name))
                    fam["help"] = parts[3] if len(parts) > 3 else ""
            continue
        m = NAME.match(line)
        if not m:
            raise ValueError("line %d: bad sample %r" % (ln, line))
        name = m.group(0)
        i = m.end()
        labels = {}
        if line[i:i + 1] == "{":
            labels, i = _labels(line, i, ln)
        if line[i:i + 1] != " ":
            raise ValueError("line %d: expected a space before the value" % ln)
        rest = line[i + 1:].split(" ")
        if len(rest) not in (1, 2):
            raise ValueError("line %d: expected value [timestamp]" % ln)
        value = _value(rest[0], ln)
        if len(rest) == 2 and not re.fullmatch(r"-?\d+", rest[1]):
            raise ValueError("line %d: bad timestamp %r" % (ln, rest[1]))
        fname = _family_of(name, families)
        fam = families.setdefault(fname, {"type": "untyped", "help": None, "samples": [], "typed": False})
        if fam["type"] in ("counter", "gauge", "untyped") and name != fname:
            raise ValueError("line %d: %s does not belong to a %s" % (ln, name, fam["type"]))
        if fam["type"] == "summary" and name == fname and "quantile" not in labels:
            raise ValueError("line %d: summary sample %s without quantile" % (ln, name))
        if fam["type"] == "counter" and (value < 0 or math.isnan(value)):
            raise ValueError("line %d: counter %s is %r" % (ln, name, value))
        if fname in done:
            raise ValueError("line %d: samples of %s are not contiguous" % (ln, fname))
        if current is not None and current != fname:
            done.add(current)
        current = fname
        key = (name, tuple(sorted(labels.items())))
        if key in seen:
            raise ValueError("line %d: duplicate series %s%r" % (ln, name, labels))
        seen.add(key)
        fam["samples"].append((name, labels, value))
    for f in families.values():
        f.pop("typed", None)
    return families


def value(families, name, **labels):
    """The value of one series, or None."""
    fam = families.get(_family_of(name, families)) or families.get(name)
    if not fam:
        return None
    for n, l, v in fam["samples"]:
        if n == name and l == labels:
            return v
    return None


if __name__ == "__main__":
    import sys
    fams = parse(sys.stdin.read())
    for k, f in sorted(fams.items()):
        print(k, f["type"], len(f["samples"]))
