"""PyTorch export (`convtool export`): a propagated stack as a self-contained PyTorch source file.

Pure Python: it writes code for torch and never imports it. The file defines one
`nn.Module` subclass. `__init__` builds every row of the `convtool run` table, in table
order, as `self.layers[i]` (an `nn.ModuleList`: row i is `layers[i]`, so forward hooks see
every intermediate shape) with explicit arguments: `Applied.args`, channels inferred and
`output_size` already resolved to `output_padding`. Skip connections are rows too: small
`Concat`/`Add` modules defined in the file, which center-crop the skip tensors to the
current size with offset (H - h) // 2 as convtool does; `forward` passes them the saved
outputs of the layers they name. A mirrored decoder is exported expanded. A `__main__`
block runs the file's input through the model and prints the output shape.

>>> from convtool.graph import loads, propagate
>>> prop = propagate(loads("input: [1, 3, 8, 8]\\nlayers: [{type: conv2d, out_channels: 4, kernel_size: 3}]"))
>>> print(module_code(prop.layers[0]))
nn.Conv2d(in_channels=3, out_channels=4, kernel_size=3, stride=1, padding=0, dilation=1, groups=1, bias=True, padding_mode='zeros')
"""

from __future__ import annotations

import builtins
import keyword
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .graph import LayerResult, LayerSpec, Propagation
from .graph.model import INPUT
from .graph.verify import input_index_bound
from .layers import KINDS
from .text import escape_controls, fmt_shape


def export(prop: Propagation) -> str:
    """The stack as a PyTorch source file: one nn.Module subclass (and one per block) and a
    `__main__` block.

    >>> from convtool.graph import loads, propagate
    >>> text = export(propagate(loads("name: tiny\\ninput: [1, 2, 4, 4]\\nlayers: [{type: relu}]")))
    >>> "class Tiny(nn.Module):" in text, "nn.ReLU(inplace=False),  # 0 relu: (1, 2, 4, 4) -> (1, 2, 4, 4)" in text
    (True, True)
    """
    arch = prop.arch
    name = class_name(arch.name, arch.file)
    bound = input_index_bound(prop)  # an input of indices, where embeddings read it
    single = len(prop.outputs) == 1 and prop.outputs[0][0] == prop.layers[-1].index
    title = _in_docstring(arch.name or Path(arch.file).stem)
    file = _in_docstring(arch.file)
    lines = [
        f'"""{title}: exported by convtool {__version__} from {file}.',
        "",
        f"Input {fmt_shape(prop.input)} -> output {fmt_shape(prop.output)}; {prop.totals.param_count:,} parameters.",
        f"`self.layers[i]` is row i of `convtool run {file}`, with the same output shape.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "import torch",
        "from torch import nn",
        "",
        f"INPUT_SHAPE = {tuple(prop.input)!r}",
    ]
    further = _further_inputs(prop)
    signature = "".join(f", {variable}: torch.Tensor" for variable, _, _ in further)
    if further:
        lines += _example_inputs(prop, further, bound)
    lines += _helpers(prop.layers, arch.layers)
    if arch.uses:
        lines[3] = "Each layer is the submodule at its path in `convtool run`: model.get_submodule('a.0.conv2d')."
        return "\n".join(lines + _Blocks(prop).module(name, title, further) + _main(name, single, bool(further), bound)) + "\n"
    lines += [
        "",
        "",
        f"class {name}(nn.Module):",
        f'    """{title}: {fmt_shape(prop.input)} -> {fmt_shape(prop.output)}."""',
        "",
        "    def __init__(self) -> None:",
        "        super().__init__()",
        "        self.layers = nn.ModuleList([",
    ]
    section = None
    indexed = _indexed(prop.layers)
    for result in prop.layers:
        if result.section != section and result.section is not None:
            lines.append(f"            # -- {_in_comment(result.section)} --")
        section = result.section
        code = module_code(result, arch.layers[result.index])
        if result.index in indexed:  # a max_unpool reads its indices
            code = code[:-1] + ", return_indices=True)"
        lines.append(f"            {code},  # {_row(result)}")
    lines += [
        "        ])",
        "",
        f"    def forward(self, x: torch.Tensor{signature}) -> {'torch.Tensor' if single else 'tuple[torch.Tensor, ...]'}:",
        "        layers = self.layers",
    ]
    lines += _forward(prop, further)
    return "\n".join(lines + _main(name, single, bool(further), bound)) + "\n"


def _further_inputs(prop: Propagation) -> list[tuple[str, int, tuple[int, ...]]]:
    """The network's inputs after the first: (forward's argument, id, shape)."""
    taken = {"x", "x_in", "layers", "self", "torch", "nn", *dir(builtins)}
    return [(_identifier(name, taken), -2 - k, shape) for k, (name, shape) in enumerate(prop.inputs[1:])]


def _example_inputs(prop: Propagation, further: list[tuple[str, int, tuple[int, ...]]], bound: int | None) -> list[str]:
    """`example_inputs()`: random values for every input (class indices where the file says so,
    or below `bound` for a first input that only embeddings read)."""
    values = ["torch.randn(INPUT_SHAPE)" if bound is None else f"torch.randint(0, {bound}, INPUT_SHAPE)"]
    for (_, _, shape), spec in zip(further, prop.arch.inputs[1:]):
        values.append(f"torch.randint(0, {spec.integers}, {shape!r})" if spec.integers else f"torch.randn({shape!r})")
    names = ", ".join(["x", *(variable for variable, _, _ in further)])
    return ["", "", "def example_inputs() -> tuple[torch.Tensor, ...]:",
            f'    """Random values of the inputs ({names}), in the order forward takes them."""',
            f"    return ({', '.join(values)})"]


def _main(name: str, single: bool, several: bool = False, bound: int | None = None) -> list[str]:
    """The `__main__` block: the model run on random inputs (indices below `bound` for a first
    input that only embeddings read), its output shapes printed."""
    return [
        "",
        "",
        'if __name__ == "__main__":',
        f"    model = {name}().eval()",
        "    with torch.no_grad():",
        "        y = model(*example_inputs())" if several
        else "        y = model(torch.randn(INPUT_SHAPE))" if bound is None
        else f"        y = model(torch.randint(0, {bound}, INPUT_SHAPE))  # indices, as the first layers read",
        '    print("output shape:", tuple(y.shape))' if single
        else '    print("output shapes:", [tuple(t.shape) for t in y])',
    ]


class _Blocks:
    """A network with blocks as PyTorch: one nn.Module class per block (one per distinct
    configuration, when uses give it other arguments or channels), a repeat as nn.Sequential
    (nn.ModuleList and a loop when the copies read more than the copy before), every layer
    an attribute named after its path, so that `get_submodule(path)` finds it."""

    def __init__(self, prop: Propagation) -> None:
        self.prop = prop
        self.children: dict[str | None, list[Any]] = {}
        for use in prop.arch.uses:
            self.children.setdefault(use.parent, []).append(use)
        self.classes: dict[str, str] = {}  # class source (without its name) -> class name
        self.sources: list[list[str]] = []

    def module(self, name: str, title: str, further: list[tuple[str, int, tuple[int, ...]]]) -> list[str]:
        """Every block class, then the network's own class."""
        names = self.prop.arch.input_names
        inputs = {names[0]: "x", **{key: variable for key, (variable, _, _) in zip(names[1:], further)}}
        signature = "".join(f", {variable}: torch.Tensor" for variable, _, _ in further)
        init, forward, result, rows = self.scope(0, len(self.prop.layers), "", None, inputs,
                                                 [k for _, k, _ in self.outputs()])
        table = ["", "# row i of `convtool run` is model.get_submodule(ROWS[i])", "ROWS = ("]
        table += [f"    {row!r}," for row in rows] + [")"]
        body = [
            f"class {name}(nn.Module):",
            f'    """{title}: {fmt_shape(self.prop.input)} -> {fmt_shape(self.prop.output)}."""',
            "",
            "    def __init__(self) -> None:",
            "        super().__init__()",
            *init,
            "",
            f"    def forward(self, x: torch.Tensor{signature}) -> "
            f"{'torch.Tensor' if len(result) == 1 else 'tuple[torch.Tensor, ...]'}:",
            *forward,
            f"        return {', '.join(result)}",
        ]
        return table + [line for source in self.sources for line in ["", "", *source]] + ["", "", *body]

    def outputs(self) -> list[tuple[int, str, Any]]:
        return [(i, self.prop.layers[i].path if i >= 0 else self.prop.arch.input_names[-1 - i], shape)
                for i, _, shape in self.prop.outputs]

    def scope(
        self, first: int, stop: int, prefix: str, parent: str | None, inputs: dict[str, str], gives: list[str]
    ) -> tuple[list[str], list[str], list[str], list[str]]:
        """The __init__ and forward lines of one scope (the network, or one copy of a block), the
        variables it returns, and the submodule path of each of its layers; `inputs` maps the
        tensor keys it receives to their variables."""
        layers = self.prop.layers
        items: list[tuple[str, Any]] = []  # ("leaf", [results]) or ("use", BlockUse)
        starts = {use.first: use for use in self.children.get(parent, [])}
        i = first
        while i < stop:
            if i in starts:
                items.append(("use", starts[i]))
                i = starts[i].stop
                continue
            local = layers[i].path[len(prefix):]
            base, _, copy = local.rpartition(".")
            group = [layers[i]]
            if base and copy.isdigit():  # a repeated layer: its copies follow each other
                while i + len(group) < stop and layers[i + len(group)].path == f"{prefix}{base}.{len(group)}":
                    group.append(layers[i + len(group)])
            items.append(("leaf", group))
            i += len(group)
        # what each item reads and makes; a key read other than by the item right after the
        # one that makes it, or returned other than last, gets a variable beside `x`
        reads = [self.item_reads(kind, item) for kind, item in items]
        made = [self.item_gives(kind, item) for kind, item in items]
        wanted = {key for key in gives if not made or key != made[-1][0]}
        wanted |= {key for n, keys in enumerate(reads) for key in keys if not n or key != made[n - 1][0]}
        taken = {"x", "y", "rest", "block", "self", "torch", "nn", "F", *dir(builtins), *inputs.values()}
        attrs: set[str] = {"layers", "training", *dir(object)}
        names = dict(inputs)
        init: list[str] = []
        forward: list[str] = []
        rows: list[str] = []
        current = None  # the key `x` holds
        for (kind, item), keys, out in zip(items, reads, made):
            args = ", ".join("x" if key == current else names[key] for key in keys)
            if kind == "leaf":
                local = item[0].path[len(prefix):]
                repeat = len(item) > 1 or local.rpartition(".")[2].isdigit()
                attr = _identifier(local.rpartition(".")[0] if repeat else local, attrs)
                codes = [module_code(r, self.prop.arch.layers[r.index]) for r in item]
                call = self.repeated(init, forward, attr, codes, keys, args, 1, single=not repeat)
                rows += [f"{attr}.{copy}" for copy in range(len(item))] if repeat else [attr]
            else:
                attr = _identifier(item.path[len(prefix):], attrs)
                classes = [self.block_class(item, copy) for copy in range(item.repeat or 1)]
                call = self.repeated(init, forward, attr, [f"{name}()" for name, _ in classes], keys, args, len(out),
                                     single=item.repeat is None)
                for copy, (_, inner) in enumerate(classes):
                    rows += [f"{attr}{'' if item.repeat is None else f'.{copy}'}.{row}" for row in inner]
            targets = ["x"]
            for key, output_name in zip(out[1:], self.output_names(kind, item)[1:]):
                if key in wanted:
                    names[key] = _identifier(f"{attr}_{output_name}", taken)
                targets.append(names.get(key, "_"))
            forward.append(f"        {', '.join(targets)} = {call}")
            current = out[0]
            if current in wanted:
                names[current] = _identifier(attr, taken)
                forward.append(f"        {names[current]} = x")
        result = ["x" if key == current else names[key] for key in gives]
        return init, forward, result, rows

    def output_names(self, kind: str, item: Any) -> tuple[str, ...]:
        return item.output_names if kind == "use" and item.output_names else ("",)

    def repeated(
        self, init: list[str], forward: list[str], attr: str, codes: list[str], keys: list[str], args: str,
        outputs: int, single: bool,
    ) -> str:
        """One attribute: a module, or its copies in a chain; the call that runs it on `args`."""
        if single:
            init.append(f"        self.{attr} = {codes[0]}")
            return f"self.{attr}({args})"
        if len(keys) == 1 and outputs == 1:  # each copy reads the one before, and nothing else
            init += [f"        self.{attr} = nn.Sequential(", *(f"            {code}," for code in codes), "        )"]
            return f"self.{attr}({args})"
        init += [f"        self.{attr} = nn.ModuleList([", *(f"            {code}," for code in codes), "        ])"]
        first, _, rest = args.partition(", ")
        more = f", {rest}" if rest else ""
        forward += [f"        y = {first}", f"        for block in self.{attr}:"]
        if outputs == 1:
            forward.append(f"            y = block(y{more})")
            return "y"
        forward.append(f"            y, *rest = block(y{more})")
        return "(y, *rest)"

    def item_reads(self, kind: str, item: Any) -> list[str]:
        if kind == "leaf":
            return list(item[0].inputs)
        return list(item.reads[0])

    def item_gives(self, kind: str, item: Any) -> list[str]:
        if kind == "leaf":
            return [item[-1].path]
        return list(item.gives[-1])

    def block_class(self, use: Any, copy: int) -> tuple[str, list[str]]:
        """The name of the class that builds one copy of a use (written once per distinct source),
        and the submodule paths of its layers."""
        size = (use.stop - use.first) // (use.repeat or 1)
        first = use.first + copy * size
        copy_path = use.path + (f".{copy}" if use.repeat else "")
        params = [_identifier("x_in" if n == INPUT else n, set()) for n in use.input_names]
        inputs = dict(zip(use.reads[copy], params))
        init, forward, result, rows = self.scope(first, first + size, copy_path + ".", use.path, inputs,
                                                 list(use.gives[copy]))
        signature = ", ".join(f"{p}: torch.Tensor" for p in params)
        returns = "torch.Tensor" if len(result) == 1 else "tuple[torch.Tensor, ...]"
        body = [
            "    def __init__(self) -> None:",
            "        super().__init__()",
            *init,
            "",
            f"    def forward(self, {signature}) -> {returns}:",
            *forward,
            f"        return {', '.join(result)}",
        ]
        text = "\n".join(body)
        if text not in self.classes:
            base = class_name(use.block)
            used = set(self.classes.values())
            name, n = base, 2
            while name in used:
                name, n = f"{base}{n}", n + 1
            self.classes[text] = name
            self.sources.append([f"class {name}(nn.Module):", f'    """Block {_in_docstring(use.block)}."""', "", *body])
        return self.classes[text], rows



def sequential(prop: Propagation, variable: str = "model", comment: str | None = None) -> str:
    """A stack without skip connections as `variable = nn.Sequential(...)`, with its imports.

    >>> from convtool.graph import loads, propagate
    >>> print(sequential(propagate(loads("input: [1, 2, 4, 4]\\nlayers: [{type: sigmoid}]"))))
    import torch
    from torch import nn
    <BLANKLINE>
    model = nn.Sequential(
        nn.Sigmoid(),  # 0 sigmoid: (1, 2, 4, 4) -> (1, 2, 4, 4)
    )
    """
    if any(KINDS[r.type].skip for r in prop.layers):
        raise ValueError("a stack with skip connections is no nn.Sequential: use export()")
    lines = ["import torch", "from torch import nn"]
    helpers = _helpers(prop.layers)
    lines += [*helpers, "", ""] if helpers else [""]
    if comment:
        lines += [f"# {_in_comment(line)}" for line in comment.split("\n")]
    lines.append(f"{variable} = nn.Sequential(")
    lines += [f"    {module_code(r)},  # {_row(r)}" for r in prop.layers]
    lines.append(")")
    return "\n".join(lines)


def module_code(result: LayerResult, spec: LayerSpec | None = None) -> str:
    """One row of the table as a module constructor with explicit keyword arguments (the
    layer kind writes it; `spec` gives the layer as written, e.g. a merge's `crop: center`)."""
    return KINDS[result.type].torch_code(result.applied, spec.config if spec is not None else {})


def class_name(name: str | None, file: str = "model") -> str:
    """A Python class name from the architecture's name (or its file's stem).

    >>> class_name("U-Net (Ronneberger et al. 2015)"), class_name(None, "configs/vae_decoder.yaml")
    ('UNetRonnebergerEtAl2015', 'VaeDecoder')
    """
    words = re.findall(r"[A-Za-z0-9]+", name or Path(file).stem)
    text = "".join(w[0].upper() + w[1:] for w in words) or "Model"
    return text if text[0].isalpha() else "Model" + text


def _helpers(layers: Sequence[LayerResult], specs: Sequence[LayerSpec] = ()) -> list[str]:
    """The helper definitions the rows need (each once, in order), or nothing."""
    blocks: list[str] = []
    for r in layers:
        config = specs[r.index].config if specs else {}
        blocks += [block for block in KINDS[r.type].helpers(config) if block not in blocks]
    return ("\n" + "\n".join(blocks)).splitlines() if blocks else []


def _forward(prop: Propagation, further: Sequence[tuple[str, int, tuple[int, ...]]] = ()) -> list[str]:
    """forward's body: one call per row; the outputs that later rows read (other than as the
    row just before them) or that forward returns are kept in variables, the input as `x_in`
    when it is read again."""
    layers = prop.layers
    outputs = [index for index, _, _ in prop.outputs]
    read = set(prop.read_later) | set(outputs[:-1] if outputs[-1] == layers[-1].index else outputs)
    taken = {"x", "layers", "self", "torch", "nn", "x_in", *dir(builtins)}
    variables: dict[int, str] = {-1: "x_in", **{index: variable for variable, index, _ in further}}
    taken |= set(variables.values())
    indices: dict[int, str] = {}  # the pools' indices that max_unpool rows read
    indexed = _indexed(layers)
    lines = ["        x_in = x"] if -1 in read else []
    for r in layers:
        first = "x" if r.source is None else variables[r.source]
        reads = [indices[i] if n == 0 and KINDS[r.type].reads_indices else variables[i] for n, i in enumerate(r.skips)]
        skips = "".join(f", {v}" for v in reads)
        if r.index in indexed:
            indices[r.index] = _identifier(f"{r.name or f'out{r.index}'}_indices", taken)
            lines.append(f"        x, {indices[r.index]} = layers[{r.index}]({first}{skips})")
        else:
            lines.append(f"        x = layers[{r.index}]({first}{skips})")
        if r.index in read:
            variables[r.index] = _identifier(r.name or f"out{r.index}", taken)
            lines.append(f"        {variables[r.index]} = x")
    if len(outputs) > 1 or (outputs and outputs[0] != layers[-1].index):
        variables[layers[-1].index] = "x"
        lines.append("        return " + ", ".join(variables[i] for i in outputs))
    else:
        lines.append("        return x")
    return lines


def _indexed(layers: Sequence[LayerResult]) -> set[int]:
    """The rows (max pools) whose indices a max_unpool row reads."""
    return {r.skips[0] for r in layers if KINDS[r.type].reads_indices}


def _identifier(name: str, taken: set[str]) -> str:
    """A fresh Python identifier for a layer's name.

    >>> _identifier("enc-1", {"x"}), _identifier("1", set()), _identifier("x", {"x"})
    ('enc_1', 'out_1', 'x_')
    """
    text = re.sub(r"[^A-Za-z0-9_]", "_", name)
    if not text or text[0].isdigit():
        text = "out_" + text
    if keyword.iskeyword(text):
        text += "_"
    while text in taken:
        text += "_"
    taken.add(text)
    return text


def _row(result: LayerResult) -> str:
    """A row of the table for a comment: the layer's name is escaped so the comment cannot end."""
    name = f" '{result.name}'" if result.name else ""
    config = f" {result.config}" if result.config else ""
    return _in_comment(f"{result.index}{name} {result.type}{config}: {fmt_shape(result.input)} -> {fmt_shape(result.output)}")


def _in_comment(text: str) -> str:
    """Text from a file inside a `#` comment: control characters escaped, so no line ends.

    >>> _in_comment('a\\nprint(1)  #')
    'a\\\\nprint(1)  #'
    """
    return escape_controls(text)


def _in_docstring(text: str) -> str:
    """Text from a file inside a triple-quoted docstring: quotes and controls escaped, so it
    cannot end the string (its value is the original text)."""
    return escape_controls(text).replace('"', '\\"')
