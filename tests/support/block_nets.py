"""Random architecture files with blocks, described once and written twice: with blocks
(`with_blocks`) and written out by hand without them (`Flat`), the oracle for the loader."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

# -- a random description ------------------------------------------------------------------
# A block: params {c: null, k: DEFAULT}, one or two inputs (a, b), a few steps, one or two
# outputs. Inside a block the spatial size never changes (odd kernels, padding k // 2), so a
# concat of any two of its tensors lines up.


@dataclass
class Block:
    name: str
    inputs: tuple[str, ...]
    k_default: int
    steps: list[tuple[Any, ...]]
    outputs: tuple[str, ...] = ()


@dataclass
class Net:
    inputs: dict[str, tuple[int, ...]]
    blocks: list[Block]
    steps: list[tuple[Any, ...]]
    outputs: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


@st.composite
def block_steps(draw: Any, earlier: list[Block], inputs: tuple[str, ...], top: bool) -> list[tuple[Any, ...]]:
    """Steps: ("conv", name, c_expr, k_expr, repeat), ("relu", name), ("cat", name, [src...]),
    ("use", name, block index, c_expr, k_or_None, reads, repeat), ("down", name) (top only)."""
    steps: list[tuple[Any, ...]] = []
    names: list[str] = list(inputs)
    for i in range(draw(st.integers(1, 4))):
        name = f"{'t' if top else 'l'}{i}" if draw(st.booleans()) else None
        choices = ["conv", "relu", "cat"] + (["use", "use"] if earlier else []) + (["down"] if top else [])
        what = draw(st.sampled_from(choices))
        c = draw(st.sampled_from(["2", "3"] if top else ["$c", "$(c + 1)", "$(c * 2 - c)", "$(c // 2 + 1)"]))
        if what == "conv":
            k = draw(st.sampled_from(["1", "3"] if top else ["$k", "$(k + 2)", "1"]))
            steps.append(("conv", name, c, k, draw(st.sampled_from([None, None, 1, 2]))))
        elif what == "relu":
            steps.append(("relu", name))
        elif what == "cat":
            steps.append(("cat", name, [draw(st.sampled_from(names)), "."]))
        elif what == "down":
            steps.append(("down", name))
        else:
            j = draw(st.integers(0, len(earlier) - 1))
            reads = [draw(st.sampled_from(names + ["."])) for _ in earlier[j].inputs]
            k = draw(st.sampled_from([None, "1", "3"] if top else [None, "$k", "1"]))
            steps.append(("use", name, j, c, k, reads, draw(st.sampled_from([None, None, 1, 2]))))
        if name is not None:
            names.append(name)
            if what == "use":
                names += [f"{name}.{o}" for o in earlier[steps[-1][2]].outputs]
    return steps


@st.composite
def nets(draw: Any) -> Net:
    blocks: list[Block] = []
    for b in range(draw(st.integers(1, 3))):
        inputs = draw(st.sampled_from([("input",), ("a",), ("a", "b"), ("x",), ("y", "x")]))
        steps = draw(block_steps(blocks, inputs, top=False))
        named = [s[1] for s in steps if s[1] is not None]
        outputs: tuple[str, ...] = ()
        if named and draw(st.booleans()):
            outputs = tuple(draw(st.lists(st.sampled_from(named), min_size=1, max_size=2, unique=True)))
        blocks.append(Block(f"blk{b}", inputs, draw(st.sampled_from([1, 3])), steps, outputs))
    several = draw(st.booleans())
    size = draw(st.sampled_from([8, 9, 12]))
    inputs = {"x": (1, 2, size, size)}
    if several:
        inputs["y"] = (1, 3, size, size)
    steps = draw(block_steps(blocks, tuple(inputs) if several else ("input",), top=True))
    return Net(inputs, blocks, steps)


def value(expr: str, env: dict[str, int]) -> int:
    """The test's own reading of the few expressions the description uses."""
    c, k = env.get("c", 0), env.get("k", 0)
    return {"$c": c, "$(c + 1)": c + 1, "$(c * 2 - c)": c, "$(c // 2 + 1)": c // 2 + 1, "$k": k,
            "$(k + 2)": k + 2}.get(expr, None) or int(expr)


def with_blocks(net: Net) -> str:
    lines = []
    if len(net.inputs) > 1:
        lines.append("inputs: {" + ", ".join(f"{n}: {list(s)}" for n, s in net.inputs.items()) + "}")
    else:
        lines.append(f"input: {list(net.inputs['x'])}")
    lines.append("blocks:")
    for block in net.blocks:
        lines.append(f"  {block.name}:")
        if block.inputs != ("input",):
            lines.append(f"    inputs: [{', '.join(block.inputs)}]")
        lines.append(f"    params: {{c: null, k: {block.k_default}}}")
        lines.append("    layers:")
        lines += ["      - " + item for item in items(block.steps, net)]
        if block.outputs:
            lines.append(f"    outputs: [{', '.join(block.outputs)}]")
    lines.append("layers:")
    lines += ["  - " + item for item in items(net.steps, net)]
    return "\n".join(lines) + "\n"


def items(steps: list[tuple[Any, ...]], net: Net) -> list[str]:
    out = []
    for step in steps:
        what, name = step[0], step[1]
        fields = [f"name: {name}"] if name else []
        if what == "conv":
            _, _, c, k, repeat = step
            pad = "$(k // 2)" if k == "$k" else "$(k // 2 + 1)" if k == "$(k + 2)" else str(int(k) // 2)
            fields += ["type: conv2d", f"out_channels: {c}", f"kernel_size: {k}", f"padding: {pad}"]
            if repeat:
                fields.append(f"repeat: {repeat}")
        elif what == "relu":
            fields.append("type: relu")
        elif what == "down":
            fields += ["type: conv2d", "out_channels: 2", "kernel_size: 3", "stride: 2", "padding: 1"]
        elif what == "cat":
            fields += ["type: concat", f"inputs: [{', '.join(step[2])}]"]
        else:
            _, _, j, c, k, reads, repeat = step
            block = net.blocks[j]
            fields += [f"type: {block.name}", f"c: {c}"] + ([f"k: {k}"] if k else [])
            if len(block.inputs) == 1:
                fields.append(f"from: {reads[0]}")
            else:
                fields.append(f"inputs: [{', '.join(reads)}]")
            if repeat:
                fields.append(f"repeat: {repeat}")
        out.append("{" + ", ".join(fields) + "}")
    return out


class Flat:
    """The description written out by hand: every layer named n0, n1, ... with an explicit source."""

    def __init__(self, net: Net) -> None:
        self.net, self.lines, self.count = net, [], 0

    def emit(self, fields: list[str], reads: list[str]) -> str:
        name = f"n{self.count}"
        self.count += 1
        source = f"inputs: [{', '.join(reads)}]" if len(reads) > 1 else f"from: {reads[0]}"
        self.lines.append("  - {" + ", ".join([f"name: {name}", *fields, source]) + "}")
        return name

    def run(self, steps: list[tuple[Any, ...]], names: dict[str, str], previous: str, env: dict[str, int]) -> str:
        """Write out `steps` in a scope; returns the last tensor; `names` grows with the scope's names."""
        for step in steps:
            what, name = step[0], step[1]
            if what == "conv":
                _, _, c, k, repeat = step
                kk = value(k, env)
                fields = ["type: conv2d", f"out_channels: {value(c, env)}", f"kernel_size: {kk}", f"padding: {kk // 2}"]
                for _ in range(repeat or 1):
                    previous = self.emit(fields, [previous])
                result = previous  # a repeated layer's name means its last copy
            elif what == "relu":
                previous = result = self.emit(["type: relu"], [previous])
            elif what == "down":
                previous = result = self.emit(
                    ["type: conv2d", "out_channels: 2", "kernel_size: 3", "stride: 2", "padding: 1"], [previous])
            elif what == "cat":
                reads = [previous if r == "." else names[r] for r in step[2]]
                previous = result = self.emit(["type: concat"], reads)
            else:
                _, _, j, c, k, reads, repeat = step
                block = self.net.blocks[j]
                inner_env = {"c": value(c, env), "k": value(k, env) if k else block.k_default}
                keys = [previous if r == "." else names[r] for r in reads]
                outs: list[str] = []
                for copy in range(repeat or 1):
                    if copy:
                        keys = [outs[0], *keys[1:]]
                    inner = dict(zip(block.inputs, keys))
                    last = self.run(block.steps, inner, keys[0], inner_env)
                    outs = [inner[o] for o in block.outputs] or [last]
                previous = result = outs[0]
                if name:
                    for o, key in zip(block.outputs, outs):
                        names[f"{name}.{o}"] = key
            if name:
                names[name] = result
        return previous

    def text(self) -> str:
        several = len(self.net.inputs) > 1
        names = {n: n for n in self.net.inputs} if several else {"input": "input"}
        final = self.run(self.net.steps, names, "x" if several else "input", {})
        # the network gives what a next layer would read: a block's output need not be its last layer
        tail = f"outputs: [{final}]\n" if final != f"n{self.count - 1}" else ""
        head = ("inputs: {" + ", ".join(f"{n}: {list(s)}" for n, s in self.net.inputs.items()) + "}" if several
                else f"input: {list(self.net.inputs['x'])}")
        return head + "\nlayers:\n" + "\n".join(self.lines) + "\n" + tail
