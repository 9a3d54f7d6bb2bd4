"""The op-coverage table: every registered op with its forward, gradcheck, second-order and
cross-device status, checked now (not declared), and the issue-13 names none of which may
be missing.

    python tools/op_coverage.py [--device strict:device1] [--markdown] [--declared-only]

Each status is "ok" (every sample passed), "FAIL" (one did; the first error is printed
below the table), or "n/a" (the op is not differentiable, or declares no second order).
Exit status 1 if anything failed or an issue name is missing.
"""

from __future__ import annotations

import argparse
import sys
import warnings

# the names issue 13 asks for, as gradflow functions or Tensor methods
ISSUE_NAMES = """
div mul sub add neg exp true_divide multiply subtract type float double half long int bool
floor ceil round trunc frac sign tan asin acos atan atan2 sinh cosh asinh acosh atanh log2 log10
log1p expm1 exp2 rsqrt erfc logaddexp logaddexp2 hypot copysign lerp xlogy nan_to_num clamp_min
clamp_max isclose allclose isinf isposinf isneginf bitwise_and bitwise_or bitwise_xor bitwise_not
bitwise_left_shift bitwise_right_shift logical_xor
prod cumsum cumprod cummax cummin logcumsumexp std_mean var_mean median nansum nanmean
count_nonzero aminmax
sort argsort topk kthvalue unique nonzero where
gather scatter scatter_add scatter_reduce index_select index_add index_fill index_copy masked_fill
masked_select masked_scatter take take_along_dim
flip fliplr flipud roll rot90 tril triu diag diagonal diag_embed trace repeat repeat_interleave
tile unfold unflatten movedim swapaxes swapdims narrow tensor_split hstack vstack dstack meshgrid
atleast_1d atleast_2d atleast_3d expand_as view_as
einsum tensordot outer inner dot mm bmm addmm cross linalg.vector_norm linalg.matrix_norm
__array__ remainder floor_divide fmod
""".split()
METHOD_ONLY = {"type", "float", "double", "half", "long", "int", "bool", "__array__"}


def _status(run) -> tuple[str, str | None]:
    try:
        run()
    except Exception as exc:  # noqa: BLE001 - a failing check is reported, not raised
        return "FAIL", f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return "ok", None


def check(spec, device: str, declared_only: bool) -> tuple[list[str], list[str]]:
    from gradflow.testing import op_checks

    samples = spec.samples()
    columns = {}
    errors = []

    def every(fn):
        def run():
            for sample in samples:
                fn(sample)
        return run

    plan = {
        "forward": (not spec.nondeterministic,
                    every(lambda s: op_checks.check_forward(spec, s, "cpu"))),
        "gradcheck": (spec.differentiable,
                      every(lambda s: op_checks.check_gradcheck(spec, s, "cpu"))),
        "second order": (spec.differentiable and spec.double_backward,
                         every(lambda s: op_checks.check_gradcheck(spec, s, "cpu", True))),
        "cross-device": (not spec.nondeterministic,
                         every(lambda s: op_checks.check_cross_device(
                             spec, s, device, exact=device.startswith("strict")
                             and not spec.cpu_reorders_sums))),
    }
    for column, (applies, run) in plan.items():
        if not applies:
            columns[column] = "n/a"
        elif declared_only:
            columns[column] = "declared"
        else:
            status, error = _status(run)
            columns[column] = status
            if error:
                errors.append(f"{spec.name} {column}: {error}")
    return [columns[c] for c in plan], errors


def missing_issue_names(registry) -> list[str]:
    import gradflow as gf

    registered = set(registry)
    missing = []
    for name in ISSUE_NAMES:
        if name in METHOD_ONLY:
            if not hasattr(gf.Tensor, name):
                missing.append(name)
        elif name not in registered:
            missing.append(name)
    return missing


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="strict:device1",
                        help="the device compared with cpu (default strict:device1)")
    parser.add_argument("--markdown", action="store_true", help="a Markdown table")
    parser.add_argument("--declared-only", action="store_true",
                        help="list what each spec declares without running the checks")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    from gradflow.testing.registry import load_all

    registry = load_all()
    header = ["op", "forward", "gradcheck", "second order", "cross-device"]
    rows, errors = [], []
    for name in sorted(registry):
        statuses, problems = check(registry[name], args.device, args.declared_only)
        rows.append([name, *statuses])
        errors += problems
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "|".join("---" for _ in header) + "|")
        for row in rows:
            print("| " + " | ".join(row) + " |")
    else:
        for row in [header] + rows:
            print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))
    missing = missing_issue_names(registry)
    counts = {}
    for i, column in enumerate(header[1:], start=1):
        cells = [r[i] for r in rows]
        applicable = [c for c in cells if c != "n/a"]
        counts[column] = f"{sum(c in ('ok', 'declared') for c in applicable)}/{len(applicable)}"
    summary = ", ".join(f"{column} {count}" for column, count in counts.items())
    print(f"\n{len(rows)} registered ops (cross-device: cpu vs {args.device}): {summary}; "
          f"issue-13 names missing: {', '.join(missing) if missing else 'none'}")
    for error in errors:
        print("  " + error)
    return 1 if errors or missing else 0


if __name__ == "__main__":
    sys.exit(main())
