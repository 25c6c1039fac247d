"""JAX: `jax.lax.conv_transpose(lhs, rhs, strides, padding, rhs_dilation, dimension_numbers,
transpose_kernel, ..., use_consistent_padding)`.

A stride-1 correlation over the stretched input (s-1 zeros between samples) padded by (lo, hi):
the window starts at k_eff-1-lo and is (I-1)*s + lo + hi - k_eff + 2 long (at least 0). 'SAME'
and 'VALID' choose (lo, hi) like TensorFlow; with `use_consistent_padding=True` the pairs are
the forward convolution's padding, as PyTorch's. Lower-case strings are a plain convolution's
padding, allowed only with stride 1. No groups, no bias. The kernel is (k..., in, out) flipped,
or (k..., out, in) as given with `transpose_kernel=True`; channels last (the default numbers).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .base import (
    REQUIRED,
    Framework,
    Geometry,
    Given,
    Layer,
    PasteError,
    Result,
    Spatial,
    Step,
    Window,
    bind,
    is_int,
    literal,
    per_dim,
)

SIGNATURE = (
    ("lhs", REQUIRED), ("rhs", REQUIRED), ("strides", REQUIRED), ("padding", REQUIRED), ("rhs_dilation", None),
    ("dimension_numbers", None), ("transpose_kernel", False), ("precision", None),
    ("preferred_element_type", None), ("use_consistent_padding", False),
)
STRING_ERROR = ("ValueError: String padding is not implemented for transposed convolution using this op. "
                "Please either exactly specify the required padding or use conv_transpose.")


def stretched_pads(padding: Any, k_eff: int, s: int, consistent: bool) -> tuple[int, int]:
    """(lo, hi) padding of the stretched input for one dim (strings checked by the caller).

    >>> stretched_pads("SAME", 3, 2, False), stretched_pads("VALID", 3, 2, False)
    ((2, 1), (2, 2))
    """
    if padding == "SAME":
        total = k_eff + s - 2
        lo = k_eff - 1 if s > k_eff - 1 else -(-total // 2)
        return lo, total - lo
    if padding == "VALID":
        return k_eff - 1, s - 1 + max(k_eff - s, 0)
    if padding == "same":
        return (k_eff - 1) // 2, k_eff - 1 - (k_eff - 1) // 2
    if padding == "valid":
        return 0, 0
    lo, hi = padding
    if consistent:
        return k_eff - 1 - lo, k_eff - 1 - hi
    return lo, hi


def read_padding(name: str, padding: Any, ndim: int) -> Any:
    """A string, or one (lo, hi) pair per dim (Flax also takes an int or one int per dim)."""
    if isinstance(padding, str):
        return padding
    if is_int(padding):
        return ((padding, padding),) * ndim
    if isinstance(padding, (list, tuple)) and len(padding) == ndim:
        pairs = []
        for item in padding:
            if is_int(item):
                pairs.append((item, item))
            elif isinstance(item, (list, tuple)) and len(item) == 2 and all(is_int(v) for v in item):
                pairs.append(tuple(item))
            else:
                break
        else:
            return tuple(pairs)
    raise PasteError(f"{name} must be a string or one (low, high) pair per spatial dim, but got {padding!r}")


class Jax(Framework):
    name = "jax"
    title = "JAX"
    limits = "explicit pairs reach any window"
    channels_last = True
    has_groups = False
    bias_in_layer = False

    def from_call(self, func: str, ndim: int, args: list[Any], kwargs: dict[str, Any], given: Given) -> Layer:
        bound = bind("conv_transpose", SIGNATURE, args, kwargs)
        if literal("dimension_numbers", bound["dimension_numbers"]) is not None:
            raise PasteError("convtool reads lax.conv_transpose with the default dimension_numbers "
                             "(channels last, kernel (k..., in, out)) only")
        strides = literal("strides", bound["strides"])
        nd = len(strides) if isinstance(strides, (list, tuple)) else ndim
        return self.build(nd, given, strides, literal("padding", bound["padding"]),
                          literal("rhs_dilation", bound["rhs_dilation"]),
                          bool(literal("transpose_kernel", bound["transpose_kernel"])),
                          bool(literal("use_consistent_padding", bound["use_consistent_padding"])))

    def from_options(self, ndim: int, given: Given) -> Layer:
        padding = given.padding if given.padding is not None else "SAME"
        if not isinstance(padding, str):
            padding = tuple((p, p) for p in per_dim("padding", padding, ndim))
        return self.build(ndim, given, given.stride or 1, padding, given.dilation, False, False)

    def build(self, ndim: int, given: Given, strides: Any, padding: Any, dilation: Any, transpose_kernel: bool,
              consistent: bool) -> Layer:
        if given.kernel_size is None:
            raise PasteError("lax.conv_transpose takes the kernel as an array: give its size with -k (and channels "
                             "with --in-channels/--out-channels)")
        if given.groups not in (None, 1):
            raise self.refuse("lax.conv_transpose has no groups (no feature_group_count)")
        stride = per_dim("strides", strides, ndim)
        dilation_t = per_dim("rhs_dilation", 1 if dilation is None else dilation, ndim)
        if any(s <= 0 for s in stride):
            raise self.refuse(f"TypeError: All dilations must be positive, got {stride}.")
        return Layer(
            framework=self.name, ndim=ndim, kernel_size=per_dim("kernel_size", given.kernel_size, ndim),
            stride=stride, dilation=dilation_t, padding=read_padding("padding", padding, ndim),
            in_channels=given.in_channels, out_channels=given.out_channels, bias=False,
            options={"transpose_kernel": transpose_kernel, "use_consistent_padding": consistent},
        )

    def apply(self, layer: Layer, spatial: Spatial) -> Result:
        return Result(layer, spatial, *self._windows(layer, spatial))

    def _windows(self, layer: Layer, spatial: Spatial) -> tuple[tuple[Window, ...], Spatial]:
        padding = layer.padding
        if isinstance(padding, str):
            if padding not in ("SAME", "VALID", "same", "valid"):
                raise self.refuse(f"ValueError: Unknown padding type: {padding}.")
            if padding in ("same", "valid") and any(s != 1 for s in layer.stride):
                raise self.refuse(STRING_ERROR, hint="write 'SAME' or 'VALID' in capitals, or explicit pairs")
        consistent = bool(layer.options.get("use_consistent_padding"))
        pairs = [stretched_pads(padding if isinstance(padding, str) else padding[axis], e, s, consistent)
                 for axis, (e, s) in enumerate(zip(layer.kernel_extent, layer.stride))]
        stretched = [(i - 1) * s + 1 for i, s in zip(spatial, layer.stride)]
        if any(n + lo + hi < 0 for n, (lo, hi) in zip(stretched, pairs)):
            raise self.refuse("ValueError: Negative padding is larger than the size of the corresponding dimension: "
                              f"got padding={tuple(pairs)}")
        out = tuple(max(0, n + lo + hi - e + 1) for n, (lo, hi), e in zip(stretched, pairs, layer.kernel_extent))
        windows = tuple(Window(e - 1 - lo, o) for (lo, _), e, o in zip(pairs, layer.kernel_extent, out))
        return windows, out

    def code(self, layer: Layer, spatial: Spatial | None = None) -> str:
        padding = layer.padding if isinstance(layer.padding, str) else tuple(tuple(p) for p in layer.padding)
        args = ["x", "w", str(tuple(layer.stride)), repr(padding)]
        if any(d != 1 for d in layer.dilation):
            args.append(f"rhs_dilation={tuple(layer.dilation)}")
        if layer.options.get("transpose_kernel"):
            args.append("transpose_kernel=True")
        if layer.options.get("use_consistent_padding"):
            args.append("use_consistent_padding=True")
        return f"jax.lax.conv_transpose({', '.join(args)})"

    def weight_shape(self, layer: Layer) -> tuple[int, ...] | None:
        if layer.in_channels is None or layer.out_channels is None:
            return None
        if layer.options.get("transpose_kernel"):
            return (*layer.kernel_size, layer.out_channels, layer.in_channels)
        return (*layer.kernel_size, layer.in_channels, layer.out_channels)

    def weight_to_torch(self, layer: Layer) -> tuple[Step, ...]:
        n = layer.ndim
        if layer.options.get("transpose_kernel"):
            return (Step("transpose", (n + 1, n, *range(n))),)
        return (Step("flip", tuple(range(n))), Step("transpose", (n, n + 1, *range(n))))

    def weight_from_torch(self, layer: Layer) -> tuple[Step, ...]:
        n = layer.ndim
        if layer.options.get("transpose_kernel"):
            return (Step("transpose", (*range(2, n + 2), 1, 0)),)
        return (Step("transpose", (*range(2, n + 2), 0, 1)), Step("flip", tuple(range(n))))

    def candidates(self, geometry: Geometry) -> Iterator[Layer]:
        if geometry.groups != 1:
            return
        for padding in ("SAME", "VALID"):
            yield self.make(geometry, padding)
        pairs = []
        for i, s, k, d, w in zip(geometry.spatial, geometry.stride, geometry.kernel_size, geometry.dilation,
                                 geometry.windows):
            e = d * (k - 1) + 1
            lo = e - 1 - w.begin
            pairs.append((lo, w.length - ((i - 1) * s + 1) - lo + e - 1))
        yield self.make(geometry, tuple(pairs))

    def make(self, geometry: Geometry, padding: Any) -> Layer:
        return geometry.layer(self.name, padding, bias=False,
                              options={"transpose_kernel": False, "use_consistent_padding": False})


FRAMEWORK = Jax()
