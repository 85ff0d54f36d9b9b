# kforge kernel config report. Run by the kernel's own `make scriptconfig`
# (so that Kconfig sees the same CC, ARCH and srctree as the build) with the
# Kconfig path and kforge's plan (JSON) as arguments. For every option the
# fragments requested, it compares the request with the final .config and,
# where they differ, says why, using kconfiglib's model of the Kconfig tree.
import json
import os
import sys

import kconfiglib
from kconfiglib import AND, OR, BOOL, TRISTATE, STRING, INT, HEX, expr_str, expr_value, split_expr

kconf = kconfiglib.Kconfig(sys.argv[1], warn=False)
kconf.load_config(os.environ.get("KCONFIG_CONFIG", ".config"))
with open(sys.argv[2]) as f:
    plan = json.load(f)
allowed = set(plan.get("allowed") or [])
TRI = {0: "n", 1: "m", 2: "y"}


def where(a):
    return "%s:%d" % (a["file"], a["line"])


def unquote(v):
    if len(v) >= 2 and v[0] == '"' and v[-1] == '"':
        return v[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return v


def final_value(sym):
    if sym.orig_type in (BOOL, TRISTATE):
        return TRI[sym.tri_value]
    return sym.str_value


def failing_terms(expr):
    """The parts of an && chain that are false, with their values."""
    out = []
    for term in split_expr(expr, AND):
        if expr_value(term) == 0:
            out.append(expr_str(term))
    return out


def symbol_values(expr):
    names = []
    for sym in kconfiglib.expr_items(expr):
        if isinstance(sym, kconfiglib.Symbol) and not sym.is_constant:
            names.append("%s=%s" % (sym.name, final_value(sym)))
    return sorted(set(names))


def prompt_condition(sym):
    conds = [node.prompt[1] for node in sym.nodes if node.prompt]
    return conds


def reason(sym, want, got):
    if sym.orig_type in (BOOL, TRISTATE):
        if want in ("y", "m") and got == "n":
            if expr_value(sym.direct_dep) == 0:
                return "depends on unmet: %s (false: %s; values: %s)" % (
                    expr_str(sym.direct_dep), ", ".join(failing_terms(sym.direct_dep)),
                    ", ".join(symbol_values(sym.direct_dep)))
            if sym.choice is not None and sym.choice.selection is not None and sym.choice.selection is not sym:
                return "lost in a choice: %s is selected instead" % sym.choice.selection.name
            conds = prompt_condition(sym)
            if not conds:
                return "has no prompt: it cannot be set, only selected or defaulted"
            if all(expr_value(c) == 0 for c in conds):
                return "its prompt is hidden: %s is false" % " || ".join(expr_str(c) for c in conds)
            return "set to n by olddefconfig (no further reason found in Kconfig)"
        if want == "m" and got == "y":
            if kconf.modules.tri_value == 0:
                return "modules are disabled (MODULES=n), so m became y"
            if expr_value(sym.rev_dep) == 2:
                return "forced to y by a select from: %s" % ", ".join(selectors(sym))
            return "became y"
        if want == "y" and got == "m":
            return "limited to m by its dependencies: %s" % expr_str(sym.direct_dep)
        if want == "n" and got in ("y", "m"):
            if expr_value(sym.rev_dep) > 0:
                return "forced by a select from: %s" % ", ".join(selectors(sym))
            if sym.choice is not None and sym.choice.selection is sym:
                return "lost in a choice: the choice needs a member and %s is the one selected" % sym.name
            conds = prompt_condition(sym)
            if not conds:
                return "has no prompt: its default (%s) cannot be turned off" % got
            if all(expr_value(c) == 0 for c in conds):
                return "its prompt is hidden (%s is false), so its default (%s) applies" % (
                    " || ".join(expr_str(c) for c in conds), got)
            return "kept on by olddefconfig (no further reason found in Kconfig)"
    if sym.orig_type in (INT, HEX):
        for low, high, cond in sym.ranges:
            if expr_value(cond):
                return "outside the allowed range %s..%s, or not visible" % (low.str_value, high.str_value)
    if expr_value(sym.direct_dep) == 0:
        return "depends on unmet: %s" % expr_str(sym.direct_dep)
    if not prompt_condition(sym):
        return "has no prompt: its value comes from its default"
    return "value not accepted"


def selectors(sym):
    names = []
    for term in split_expr(sym.rev_dep, OR):
        items = [s for s in kconfiglib.expr_items(term) if isinstance(s, kconfiglib.Symbol) and not s.is_constant]
        if items:
            names.append("%s=%s" % (items[0].name, final_value(items[0])))
    return sorted(set(names))


def normalize(sym, v):
    if sym.orig_type == STRING:
        return unquote(v)
    if sym.orig_type == HEX:
        return v.lower()
    return v


dropped, overridden, landed = [], [], 0
for req in plan["requests"]:
    name, want = req["symbol"], req["value"]
    sym = kconf.syms.get(name)
    if sym is None or not sym.nodes:
        entry = dict(req, got="", reason="no such symbol in this kernel")
    else:
        got = final_value(sym)
        if normalize(sym, want) == normalize(sym, got):
            landed += 1
            entry = None
        else:
            entry = dict(req, got=got, reason=reason(sym, want, got))
    for prev in req.get("overrides") or []:
        overridden.append(dict(prev, by=where(req), final=req["value"]))
    if entry is not None:
        entry["allowed"] = name in allowed
        dropped.append(entry)

failing = [d for d in dropped if not d["allowed"]]
lines = ["kforge kernel config report: %d options requested, %d landed, %d did not (%d allowed)" % (
    len(plan["requests"]), landed, len(dropped), len(dropped) - len(failing))]
for d in dropped:
    lines.append("  CONFIG_%s=%s (%s) -> %s: %s%s" % (
        d["symbol"], d["value"], where(d), d["got"] or "absent", d["reason"],
        " [allowed]" if d["allowed"] else ""))
if overridden:
    lines.append("set otherwise by a later fragment:")
    for o in overridden:
        lines.append("  CONFIG_%s=%s (%s) -> replaced by %s from %s" % (o["symbol"], o["value"], where(o), o["final"], o["by"]))

objtree = os.getcwd()
with open(os.path.join(objtree, "kforge-config-report.txt"), "w") as f:
    f.write("\n".join(lines) + "\n")
with open(os.path.join(objtree, "kforge-config-report.json"), "w") as f:
    json.dump({"requested": len(plan["requests"]), "landed": landed, "dropped": dropped,
               "overridden": overridden}, f, indent=2, sort_keys=True)
    f.write("\n")
print("\n".join(lines))
if failing and plan.get("policy", "fail") == "fail":
    print("kforge: %d requested options did not land (policy: fail); allow them in the recipe's "
          "config.allow list or set config.policy: warn" % len(failing), file=sys.stderr)
    sys.exit(1)
