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

from . import __version__
from .graph import LayerResult, LayerSpec, Propagation
from .layers import KINDS
from .text import escape_controls, fmt_shape


def export(prop: Propagation) -> str:
    """The stack as a PyTorch source file: one nn.Module subclass and a `__main__` block.

    >>> from convtool.graph import loads, propagate
    >>> text = export(propagate(loads("name: tiny\\ninput: [1, 2, 4, 4]\\nlayers: [{type: relu}]")))
    >>> "class Tiny(nn.Module):" in text, "nn.ReLU(inplace=False),  # 0 relu: (1, 2, 4, 4) -> (1, 2, 4, 4)" in text
    (True, True)
    """
    arch = prop.arch
    name = class_name(arch.name, arch.file)
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
    lines += _helpers(prop.layers, arch.layers)
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
        f"    def forward(self, x: torch.Tensor) -> {'torch.Tensor' if single else 'tuple[torch.Tensor, ...]'}:",
        "        layers = self.layers",
    ]
    lines += _forward(prop)
    lines += [
        "",
        "",
        'if __name__ == "__main__":',
        f"    model = {name}().eval()",
        "    with torch.no_grad():",
        "        y = model(torch.randn(INPUT_SHAPE))",
        '    print("output shape:", tuple(y.shape))' if single
        else '    print("output shapes:", [tuple(t.shape) for t in y])',
    ]
    return "\n".join(lines) + "\n"


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


def _forward(prop: Propagation) -> list[str]:
    """forward's body: one call per row; the outputs that later rows read (other than as the
    row just before them) or that forward returns are kept in variables, the input as `x_in`
    when it is read again."""
    layers = prop.layers
    outputs = [index for index, _, _ in prop.outputs]
    read = set(prop.read_later) | set(outputs[:-1] if outputs[-1] == layers[-1].index else outputs)
    taken = {"x", "layers", "self", "torch", "nn", "x_in", *dir(builtins)}
    variables: dict[int, str] = {-1: "x_in"}
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
