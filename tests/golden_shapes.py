"""Replay a golden case of tests/golden/shapes.json through the shape engine."""

from __future__ import annotations

from typing import Any

from convtool.errors import ConfigError
from convtool.params import ConvParams
from convtool.shape import output_padding_for, output_shape


def params_of(case: dict[str, Any]) -> ConvParams:
    common = dict(
        groups=case["groups"], bias=case["bias"], in_channels=case["in_channels"],
        out_channels=case["out_channels"], ndim=case["ndim"],
    )
    if case["transposed"]:
        return ConvParams.conv_transpose(
            case["kernel_size"], case["stride"], case["padding"], case["output_padding"],
            dilation=case["dilation"], **common,
        )
    return ConvParams.conv(
        case["kernel_size"], case["stride"], case["padding"], case["dilation"],
        padding_mode=case["padding_mode"], **common,
    )


def replay(case: dict[str, Any]) -> dict[str, Any]:
    """What convtool says of the case, in the golden file's terms."""
    try:
        params = params_of(case)
        out = output_shape(params, case["input_shape"])
    except ConfigError as error:
        return {"error": error.message}
    result: dict[str, Any] = {"output_shape": list(out)}
    if case["transposed"]:
        base = params.replace(output_padding=0)
        default = list(out[-case["ndim"]:])
        accepted = []
        for axis in range(case["ndim"]):
            ok = []
            for size in range(default[axis] - 4, default[axis] + 5):
                request = list(default)
                request[axis] = size
                try:
                    op = output_padding_for(base, case["input_shape"], request)
                    output_shape(base.replace(output_padding=op), case["input_shape"])
                    ok.append(size)
                except ConfigError:
                    pass
            accepted.append(ok)
        result["output_size_accepted"] = accepted
    return result
