"""einsum lowered to ops every backend has: diagonals for repeated letters, sums for
letters only one operand holds, and one batched matmul per pair of operands."""

from __future__ import annotations

from gradflow.errors import ConfigError, ShapeError
from gradflow.ops.linalg import matmul
from gradflow.ops.movement import diagonal
from gradflow.ops.reduce import sum as total
from gradflow.ops.shape import broadcast_to, permute, reshape
from gradflow.tensor import Tensor

_ELLIPSIS_BASE = 0x2460  # placeholder letters for the dimensions '...' stands for


def _parse(subscripts: str, operands) -> tuple[list[list[str]], list[str]]:
    spec = subscripts.replace(" ", "")
    lhs, arrow, rhs = spec.partition("->")
    inputs = lhs.split(",")
    if len(inputs) != len(operands):
        raise ConfigError(f"einsum: {subscripts!r} names {len(inputs)} operands, "
                          f"{len(operands)} were given")
    widest = 0
    letters = []
    for term, x in zip(inputs, operands):
        named = term.replace("...", "")
        if not all(c.isalpha() for c in named):
            raise ConfigError(f"einsum: subscripts must be letters, got {term!r}")
        if "..." in term:
            extra = x.ndim - len(named)
            if extra < 0:
                raise ShapeError(f"einsum: {term!r} names more dimensions than {x.shape} has")
            widest = max(widest, extra)
            fill = [chr(_ELLIPSIS_BASE + i) for i in range(extra)]
            at = term.index("...")
            letters.append(list(term[:at]) + fill + list(term[at + 3:]))
        else:
            if len(named) != x.ndim:
                raise ShapeError(f"einsum: {term!r} names {len(named)} dimensions of a tensor "
                                 f"of shape {x.shape}")
            letters.append(list(term))
    ellipsis = [chr(_ELLIPSIS_BASE + i) for i in range(widest)]
    if arrow:
        out = list(rhs.replace("...", "\0"))
        out = [c for part in out for c in (ellipsis if part == "\0" else [part])]
        every = {c for names in letters for c in names}
        unknown = [c for c in out if c not in every]
        if unknown or len(set(out)) != len(out):
            raise ConfigError(f"einsum: output {rhs!r} names letters twice or not in the inputs")
    else:
        counts = {}
        for names in letters:
            for c in names:
                counts[c] = counts.get(c, 0) + 1
        out = ellipsis + sorted(c for c, n in counts.items() if n == 1 and ord(c) < _ELLIPSIS_BASE)
    return letters, out


def _right_align(letters, widest):
    """Placeholders were numbered from the left; renumber each so the last is the last."""
    fixed = []
    for names in letters:
        held = [c for c in names if ord(c) >= _ELLIPSIS_BASE]
        shift = widest - len(held)
        fixed.append([c if ord(c) < _ELLIPSIS_BASE else chr(_ELLIPSIS_BASE + shift + held.index(c))
                      for c in names])
    return fixed


def _diagonals(x: Tensor, names: list[str]):
    """Take the diagonal for every letter the operand repeats."""
    while True:
        seen = {}
        for i, c in enumerate(names):
            if c in seen:
                first = seen[c]
                if x.shape[first] != x.shape[i]:
                    raise ShapeError(f"einsum: letter {c!r} has sizes {x.shape[first]} and "
                                     f"{x.shape[i]} in one operand")
                x = diagonal(x, 0, first, i)
                names = [n for j, n in enumerate(names) if j not in (first, i)] + [c]
                break
            seen[c] = i
        else:
            return x, names


def _size_of(letter, pairs) -> int:
    size = 1
    for x, names in pairs:
        for c, s in zip(names, x.shape):
            if c == letter and s != 1:
                if size not in (1, s):
                    raise ShapeError(f"einsum: letter {letter!r} has sizes {size} and {s}")
                size = s
    return size


def contract(subscripts: str, operands) -> Tensor:
    if not operands:
        raise ConfigError("einsum: needs at least one operand")
    letters, out = _parse(subscripts, operands)
    widest = max(sum(1 for c in n if ord(c) >= _ELLIPSIS_BASE) for n in letters)
    letters = _right_align(letters, widest)
    pairs = [_diagonals(x, names) for x, names in zip(operands, letters)]
    sizes = {c: _size_of(c, pairs) for _, names in pairs for c in names}
    # broadcast dimensions of size 1 against the others
    pairs = [(x if tuple(sizes[c] for c in names) == x.shape else
              broadcast_to(x, tuple(sizes[c] for c in names)), names) for x, names in pairs]
    # sum letters that one operand holds and nothing else needs
    reduced = []
    for i, (x, names) in enumerate(pairs):
        elsewhere = set(out).union(*(set(n) for j, (_, n) in enumerate(pairs) if j != i))
        gone = [d for d, c in enumerate(names) if c not in elsewhere]
        if gone:
            x = total(x, tuple(gone))
            names = [c for c in names if c in elsewhere]
        reduced.append((x, names))
    x, names = reduced[0]
    for k in range(1, len(reduced)):
        y, other = reduced[k]
        needed = set(out).union(*(set(n) for _, n in reduced[k + 1:]))
        x, names = _pair(x, names, y, other, needed, sizes)
    if not names and not out:
        return x
    return permute(x, tuple(names.index(c) for c in out)) if names != out else x


def _pair(a: Tensor, la, b: Tensor, lb, needed, sizes):
    batch = [c for c in la if c in lb and c in needed]
    summed = [c for c in la if c in lb and c not in needed]
    left = [c for c in la if c not in lb]
    right = [c for c in lb if c not in la]

    def block(letters):
        n = 1
        for c in letters:
            n *= sizes[c]
        return n

    a2 = reshape(permute(a, tuple(la.index(c) for c in batch + left + summed)),
                 (block(batch), block(left), block(summed)))
    b2 = reshape(permute(b, tuple(lb.index(c) for c in batch + summed + right)),
                 (block(batch), block(summed), block(right)))
    product = matmul(a2, b2)
    names = batch + left + right
    return reshape(product, tuple(sizes[c] for c in names)), names
