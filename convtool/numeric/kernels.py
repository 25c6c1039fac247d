"""The kernels: each strategy of a plan as numpy passes around one matrix product per tile,
and the execution of a plan, shared out across threads when the plan says so.
"""

from __future__ import annotations

import functools
import itertools
from math import prod

import numpy as np
import numpy.typing as npt

from . import threads
from .plan import Axis, Flat, Phase, Plan, Tiles, ravel

Array = npt.NDArray[np.floating]



def execute(plan: Plan, x: Array, weight: Array, bias: Array | None) -> Array:
    """Compute the layer: x (N, C_in, *spatial) C-contiguous, weight in PyTorch's layout."""
    out = np.empty(plan.output_shape, x.dtype)
    if out.size == 0:
        return out
    run = _RUN[plan.strategy, plan.params.transposed]
    if plan.parts == 1:
        run(plan, x, weight, bias, out)
        return out
    n, cin = plan.input_shape[:2]
    cout, g, transposed = plan.output_shape[1], plan.groups, plan.params.transposed
    jobs = []
    if plan.split == "tiles":  # each share lays the whole input out again: a pass each, side by side
        for t0, t1 in threads.shares(len(plan.tiles), plan.parts):
            jobs.append(functools.partial(run, plan, x, weight, bias, out, tiles=plan.tiles[t0:t1]))
    elif plan.split == "images":
        for n0, n1 in threads.shares(n, plan.parts):
            jobs.append(functools.partial(run, plan.share(images=n1 - n0), x[n0:n1], weight, bias, out[n0:n1]))
    elif plan.split == "groups":
        cig, cog = cin // g, cout // g
        for g0, g1 in threads.shares(g, plan.parts):
            ci, co = slice(g0 * cig, g1 * cig), slice(g0 * cog, g1 * cog)
            jobs.append(functools.partial(
                run, plan.share(groups=g1 - g0), x[:, ci], weight[ci if transposed else co],
                None if bias is None else bias[co], out[:, co],
            ))
    else:  # output channels (one group): each share reads the whole input
        for c0, c1 in threads.shares(cout, plan.parts):
            co = slice(c0, c1)
            jobs.append(functools.partial(
                run, plan.share(out_channels=c1 - c0), x, weight[:, co] if transposed else weight[co],
                None if bias is None else bias[co], out[:, co],
            ))
    threads.side_by_side(jobs)
    return out


def _transpose_columns(plan: Plan, x: Array, weight: Array, bias: Array | None, out: Array) -> None:
    """GEMM into channels-last columns (pixels x taps·C_out), then one scatter-add per tap."""
    n, cin, cout, g, cig, cog, spatial_in, spatial_out, kernel, taps, pixels_in, _ = plan.dims
    nd = len(kernel)
    by_tap = weight.reshape(g, cig, cog, taps)
    taps_last = cin >= n * pixels_in  # else a copy of the weight buys contiguous scatter loops
    if not taps_last:
        by_tap = np.ascontiguousarray(by_tap.transpose(0, 1, 3, 2))
    wmat = by_tap.reshape(g, cig, cog * taps)
    xl = x.reshape(n, g, cig, pixels_in).transpose(1, 0, 3, 2)
    links = list(itertools.product(*(_tap_slices(axis) for axis in plan.axes)))
    space = tuple(range(2, 2 + nd))  # the spatial axes of (g, n, *spatial, ...)
    for n0, n1, _, _ in plan.tiles:
        nb = n1 - n0
        xs = np.ascontiguousarray(xl[:, n0:n1]).reshape(g, nb * pixels_in, cig)
        cols = np.matmul(xs, wmat)
        acc = np.zeros((nb, *spatial_out, g, cog), x.dtype)  # per tile: still in cache to finish
        dst = acc.transpose(nd + 1, 0, *range(1, nd + 1), nd + 2)  # (g, n, *spatial, cog)
        if taps_last:  # (g, n, *spatial, cog, *kernel) -> (*kernel, g, n, *spatial, cog)
            tap = cols.reshape(g, nb, *spatial_in, cog, *kernel)
            tap = tap.transpose(*range(nd + 3, 2 * nd + 3), 0, 1, *space, nd + 2)
        else:  # (g, n, *spatial, *kernel, cog) -> (*kernel, g, n, *spatial, cog)
            tap = cols.reshape(g, nb, *spatial_in, *kernel, cog)
            tap = tap.transpose(*range(nd + 2, 2 * nd + 2), 0, 1, *space, 2 * nd + 2)
        for link in links:
            ts = tuple(t for t, _ in link)
            ins = tuple(s_in for _, (s_in, _) in link)
            outs = tuple(s_out for _, (_, s_out) in link)
            dst[(slice(None), slice(None), *outs)] += tap[(*ts, slice(None), slice(None), *ins)]
        _finish_channels_last(acc.reshape(nb, *spatial_out, cout), bias, out[n0:n1])


def _tap_slices(axis: Axis) -> list[tuple[int, tuple[slice, slice]]]:
    """Per kernel tap of a transposed axis: (tap, (input slice, output slice)) it connects."""
    result = []
    for r, phase in enumerate(axis.phases):
        for t, _, off in phase.taps:
            first, last = max(0, off), min(axis.size, phase.count + off)
            if first < last:
                start = r + axis.step * (first - off)
                result.append((t, (slice(first, last), slice(start, start + axis.step * (last - first - 1) + 1, axis.step))))
    return result


def _conv_columns(plan: Plan, x: Array, weight: Array, bias: Array | None, out: Array) -> None:
    """Pixel-major im2col (pixels x taps·C_in) per tile of images, then one GEMM per tile
    that leaves the output channels first."""
    n, cin, cout, g, cig, cog, _, spatial_out, kernel, taps, _, pixels_out = plan.dims
    params = plan.params
    pairs = params.padding_pairs
    by_tap = weight.reshape(g, cog, cig, taps)
    taps_last = cin >= n * pixels_out  # else a copy of the weight buys contiguous im2col loops
    if not taps_last:
        by_tap = np.ascontiguousarray(by_tap.transpose(0, 1, 3, 2))
    wmat = by_tap.reshape(g, cog, cig * taps)
    # weights first: the product comes out channels first (for one image, the output itself),
    # and OpenBLAS runs it up to twice as fast as columns first when the pixels are few
    res = _view(out, g, cog, pixels_out) if n == 1 else np.empty((g, cog, n * pixels_out), x.dtype)
    xp = _padded(x, pairs)
    sn, sc, *sp = xp.strides
    # every window of every tap as one strided view of the padded input, in the columns' order:
    # one copy per tile (no channels-last copy of the input, no numpy call per tap)
    outer = (cig * sc, sn, *(s * st for s, st in zip(params.stride, sp)))
    taps_strides = tuple(d * st for d, st in zip(params.dilation, sp))
    inner = ((sc, *taps_strides), (cig, *kernel)) if taps_last else ((*taps_strides, sc), (*kernel, cig))
    for n0, n1, _, _ in plan.tiles:
        nb = n1 - n0
        cols = np.empty((g, nb, *spatial_out, *inner[1]), x.dtype)
        windows = np.lib.stride_tricks.as_strided(xp[n0:n1], cols.shape, (*outer, *inner[0]), writeable=False)
        np.copyto(cols, windows)
        np.matmul(wmat, cols.reshape(g, nb * pixels_out, cig * taps).transpose(0, 2, 1),
                  out=res[..., n0 * pixels_out:n1 * pixels_out])
    by_image = res.reshape(g, cog, n, pixels_out).transpose(2, 0, 1, 3).reshape(n, cout, pixels_out)
    if bias is not None:
        np.add(by_image, bias[:, None], out=_view(out, n, cout, pixels_out))
    elif n > 1:
        np.copyto(_view(out, n, cout, pixels_out), by_image)


def _tap_window(t: int, d: int, s: int, first: int, count: int) -> slice:
    """The padded input positions that kernel tap t (dilation d, stride s) reads for outputs
    first .. first + count - 1 of a convolution's axis.

    >>> _tap_window(2, 1, 2, 1, 3)  # outputs 1, 2, 3 read 4, 6, 8
    slice(4, 9, 2)
    """
    start = t * d + s * first
    return slice(start, start + s * (count - 1) + 1, s)


def _padded(x: Array, pairs: tuple[tuple[int, int], ...]) -> Array:
    """x (N, C, *spatial) with zeros added before and after each spatial axis (x itself if none)."""
    if not any(a or b for a, b in pairs):
        return x
    xp = np.zeros((*x.shape[:2], *(i + a + b for i, (a, b) in zip(x.shape[2:], pairs))), x.dtype)
    xp[(slice(None), slice(None), *(slice(a, a + i) for i, (a, _) in zip(x.shape[2:], pairs)))] = x
    return xp


def _view(out: Array, *shape: int) -> Array:
    """`out` reshaped without a copy (a copy would lose what is written into it). The outputs
    the strategies get, slices of images or channels of a C-contiguous array, always reshape so.
    """
    view = out.view()
    view.shape = shape  # raises rather than copies
    return view


def _finish_channels_last(acc: Array, bias: Array | None, out: Array) -> None:
    """out (N, C, *spatial) = acc (N, *spatial, C) + bias."""
    nd = acc.ndim - 2
    src = acc.transpose(0, nd + 1, *range(1, nd + 1))
    if bias is None:
        np.copyto(out, src)
    else:
        np.add(src, bias.reshape(-1, *(1,) * nd), out=out)


# == strategy: im2col (convolutions) ========================================================


def _conv_im2col(
    plan: Plan, x: Array, weight: Array, bias: Array | None, out: Array, tiles: Tiles | None = None
) -> None:
    """The classic im2col: per tile, rows of C_in/g · taps shifted inputs with exactly the
    output's columns, then one GEMM per image straight into the output (no crop, no transpose)."""
    n, cin, cout, g, cig, cog, _, spatial_out, kernel, taps, _, pixels_out = plan.dims
    params = plan.params
    xp = _padded(x, params.padding_pairs)
    wmat = weight.reshape(g, cog, cig * taps)
    tiles = plan.tiles if tiles is None else tiles
    width = pixels_out // spatial_out[0]  # output positions per row (one step along the first axis)
    widest = max((n1 - n0) * (q1 - q0) for n0, n1, q0, q1 in tiles)
    cols_buffer = np.empty(widest * g * cig * taps * width, x.dtype)
    # every tap's shifted input as one strided view of the padded input, in the columns' order
    # (image, group, channel, *taps, *output positions): one copy per tile, not one per tap
    sn, sc, *sp = xp.strides
    strides = (sn, cig * sc, sc, *(d * st for d, st in zip(params.dilation, sp)), *(s * st for s, st in zip(params.stride, sp)))
    for n0, n1, q0, q1 in tiles:
        nb, rows = n1 - n0, q1 - q0
        cols = cols_buffer[:nb * g * cig * taps * rows * width].reshape(nb, g, cig, *kernel, rows, *spatial_out[1:])
        first = xp[n0:n1, :, q0 * params.stride[0]:]
        np.copyto(cols, np.lib.stride_tricks.as_strided(first, cols.shape, strides, writeable=False))
        dst = _view(out[n0:n1, :, q0:q1], nb, g, cog, rows * width)  # each row is contiguous
        np.matmul(wmat, cols.reshape(nb, g, cig * taps, rows * width), out=dst)
        if bias is not None:
            dst += bias.reshape(g, cog, 1)


# == strategy: gemm (layers that are one matrix product) ===================================


def _matrix_product(plan: Plan, x: Array, weight: Array, bias: Array | None, out: Array) -> None:
    """One batched matrix product written straight into the output (see `plan._product`)."""
    n, cin, cout, g, cig, cog, _, _, _, _, pixels_in, pixels_out = plan.dims
    if plan.product == "pixels":  # (C_out/g x C_in/g) @ (C_in/g x pixels), image by image
        by_group = weight.reshape(g, cig, cog).transpose(0, 2, 1) if plan.params.transposed else weight.reshape(g, cog, cig)
        np.matmul(by_group, x.reshape(n, g, cig, pixels_in), out=_view(out, n, g, cog, pixels_in))
    elif plan.params.transposed:  # per group (images x C_in/g) @ (C_in/g x C_out/g·kernel)
        np.matmul(x.reshape(n, g, cig).transpose(1, 0, 2), weight.reshape(g, cig, -1),
                  out=_view(out, n, g, cog * pixels_out).transpose(1, 0, 2))
    else:  # per group (C_out/g x C_in/g·kernel) @ (C_in/g·kernel x images): OpenBLAS is twice as fast this way round
        np.copyto(_view(out, n, g, cog).transpose(1, 2, 0), np.matmul(weight.reshape(g, cog, -1), x.reshape(n, g, -1).transpose(1, 2, 0)))
    if bias is not None:
        flat = _view(out, n, cout, pixels_out)
        np.add(flat, bias[:, None], out=flat)


# == strategies on the flat layout: scatter and gather =======================================


def _flat_input(plan: Plan, x: Array, flat: Flat) -> Array:
    """x laid out flat: (groups, C_in/groups, planes, length), zeros around the data."""
    n, cin, _, g, cig, _, spatial_in, _, _, _, pixels_in, _ = plan.dims
    steps = [axis.in_step for axis in plan.axes]
    planes = prod(steps)
    if n == 1 and planes == 1 and flat.lead == 0 and flat.pitches == spatial_in and flat.hi <= 0:
        return x.reshape(g, cig, 1, pixels_in)
    buf = np.zeros((g, cig, planes, flat.length), x.dtype)
    images = buf[..., flat.lead:flat.lead + n * flat.image_rows * flat.pitch]
    images = images.reshape(g, cig, planes, n, *flat.pitches)
    nd = len(spatial_in)
    xs = x.reshape(n, g, cig, *spatial_in).transpose(1, 2, 0, *range(3, 3 + nd))
    for plane, parts in enumerate(itertools.product(*(range(step) for step in steps))):
        spans = [axis.plane_span(part) for axis, part in zip(plan.axes, parts)]
        dst = tuple(slice(first, first + count) for first, _, count in spans)
        src = tuple(slice(start, start + step * (count - 1) + 1, step) if count else slice(0, 0)
                    for (_, start, count), step in zip(spans, steps))
        images[(slice(None), slice(None), plane, slice(None), *dst)] = xs[(Ellipsis, *src)]
    return buf


def _emit(
    plan: Plan, out: Array, tile: tuple[int, int, int, int], target: tuple[tuple[int, ...], tuple[Phase, ...]],
    src: Array | None, bias: Array | None,
) -> None:
    """Write one output phase of one tile, adding the bias; `src` None: the bias alone.

    src (channels, images·rows·pitch) is on the flat grid; output phase (r0, r1, ...) holds the
    positions (r0 + step0·q0, r1 + step1·q1, ...).
    """
    n0, n1, q0, q1 = tile
    rs, phases = target
    axes, flat = plan.axes, plan.flat
    rows = min(q1, phases[0].count) - q0
    if rows <= 0:
        return
    start, step = rs[0] + axes[0].step * q0, axes[0].step
    spots = [slice(start, start + step * (rows - 1) + 1, step)]
    spots += [slice(r, None, axis.step) for r, axis in zip(rs[1:], axes[1:])]
    dst = out[(slice(n0, n1), slice(None), *spots)]
    nd = len(axes)
    if src is None:
        dst[...] = 0 if bias is None else bias.reshape(-1, *(1,) * nd)
        return
    view = src.reshape(src.shape[0], n1 - n0, q1 - q0, *flat.pitches[1:])
    view = view[(slice(None), slice(None), slice(0, rows), *(slice(0, ph.count) for ph in phases[1:]))]
    view = view.transpose(1, 0, *range(2, 2 + nd))
    if bias is None:
        np.copyto(dst, view)
    else:
        np.add(view, bias.reshape(-1, *(1,) * nd), out=dst)


def _flat_scatter(
    plan: Plan, x: Array, weight: Array, bias: Array | None, out: Array, tiles: Tiles | None = None
) -> None:
    """Transposed: per tile one GEMM gives every tap's columns on the flat grid; each output
    phase sums its taps' columns at their offsets (col2im without a pixel loop)."""
    _, _, cout, g, cig, cog, _, _, kernel, taps, _, _ = plan.dims
    flat, tiles = plan.flat, plan.tiles if tiles is None else tiles
    buf = _flat_input(plan, x, flat)[:, :, 0]
    wmat = weight.reshape(g, cig, cog * taps).transpose(0, 2, 1)
    halo = flat.hi - flat.lo
    widest = max(flat.span(tile)[1] for tile in tiles)
    # one buffer each for all tiles: fresh pages for every tile would cost page faults
    cols_buffer = np.empty((g, cog * taps, widest + halo), x.dtype)
    acc_buffer = np.empty((g, cog, widest), x.dtype)
    # per output phase, the (tap number, column offset) of each of its taps
    reads_of = [
        [(ravel([t for t, _, _ in combo], kernel), sum(off * st for (*_, off), st in zip(combo, flat.strides)) - flat.lo)
         for combo in itertools.product(*(ph.taps for ph in phases))]
        for _, phases in plan.targets
    ]
    for tile in tiles:
        first, span = flat.span(tile)
        begin = flat.lead + first + flat.lo
        cols = np.matmul(wmat, buf[:, :, begin:begin + span + halo], out=cols_buffer[..., :span + halo])
        cols = cols.reshape(g, cog, taps, span + halo)
        acc = acc_buffer[..., :span]
        for target, reads_at in zip(plan.targets, reads_of):
            reads = [cols[:, :, t, o:o + span] for t, o in reads_at]
            if not reads:
                _emit(plan, out, tile, target, None, bias)
                continue
            total = reads[0]
            if len(reads) > 1:
                total = np.add(reads[0], reads[1], out=acc)
                for view in reads[2:]:
                    np.add(total, view, out=total)
            _emit(plan, out, tile, target, total.reshape(cout, span), bias)


def _flat_gather(
    plan: Plan, x: Array, weight: Array, bias: Array | None, out: Array, tiles: Tiles | None = None
) -> None:
    """Stack the shifted inputs of every distinct (plane, offset) per tile (im2col on the flat
    grid), then one GEMM computes every output phase."""
    _, _, cout, g, cig, cog, _, _, _, _, _, _ = plan.dims
    flat, targets, direct = plan.flat, plan.targets, plan.direct
    tiles = plan.tiles if tiles is None else tiles
    buf = _flat_input(plan, x, flat)
    sources, wmat = plan.sources[0], _gather_weights(plan, weight)
    u = len(sources)
    widest = max(flat.span(tile)[1] for tile in tiles)
    stack_buffer = np.empty((g, cig, 0 if direct else u, widest), x.dtype)
    res_buffer = np.empty((g, cog * len(targets), widest), x.dtype)
    for tile in tiles:
        first, span = flat.span(tile)
        begin = flat.lead + first
        if direct:
            stack = buf[..., begin:begin + span]
        else:
            stack = stack_buffer[..., :span]
            for i, (plane, off) in enumerate(sources):
                stack[:, :, i] = buf[:, :, plane, begin + off:begin + off + span]
        res = np.matmul(wmat, stack.reshape(g, cig * u, span), out=res_buffer[..., :span])
        res = res.reshape(g, cog, len(targets), span)
        for r, target in enumerate(targets):
            _emit(plan, out, tile, target, res[:, :, r].reshape(cout, span), bias)


def _flat_shifts(
    plan: Plan, x: Array, weight: Array, bias: Array | None, out: Array, tiles: Tiles | None = None
) -> None:
    """Convolutions on the flat grid without a stack: per distinct flat offset one GEMM reads
    every input plane at that offset where it lies (a view of the flat input), and the products
    are summed. The stack of `_flat_gather` repeats the input once per offset; this reads it in place."""
    _, _, cout, g, cig, cog, _, _, _, _, _, _ = plan.dims
    flat, tiles = plan.flat, plan.tiles if tiles is None else tiles
    buf = _flat_input(plan, x, flat)
    planes = buf.shape[2]
    offsets, wmats = _shift_weights(plan, weight)
    widest = max(flat.span(tile)[1] for tile in tiles)
    res_buffer = np.empty((g, cog, widest), x.dtype)
    part_buffer = np.empty((g, cog, widest if len(offsets) > 1 else 0), x.dtype)
    for tile in tiles:
        first, span = flat.span(tile)
        begin = flat.lead + first
        res, part = res_buffer[..., :span], part_buffer[..., :span]
        for i, off in enumerate(offsets):
            # (g, cig, planes, span) merges to (g, cig·planes, span) rows `length` apart: BLAS reads it as is
            reads = buf[..., begin + off:begin + off + span].reshape(g, cig * planes, span)
            np.matmul(wmats[i], reads, out=part if i else res)
            if i:
                np.add(res, part, out=res)
        _emit(plan, out, tile, plan.targets[0], res.reshape(cout, span), bias)


def _shift_weights(plan: Plan, weight: Array) -> tuple[list[int], Array]:
    """The distinct flat offsets of a convolution's taps, and per offset the weight matrix
    (groups, C_out/g, C_in/g · planes) of the taps that read there (zeros for planes none reads)."""
    g, sources = plan.groups, plan.sources[0]  # a convolution's sources are its taps, in kernel order
    cout, cig = weight.shape[:2]
    planes = prod(axis.in_step for axis in plan.axes)
    offsets = sorted({off for _, off in sources})
    number = {off: i for i, off in enumerate(offsets)}
    taps = len(sources)
    tap_of = np.full((len(offsets), planes), taps)  # tap number `taps`: the zeros below
    for t, (plane, off) in enumerate(sources):
        tap_of[number[off], plane] = t
    by_tap = weight.reshape(g, cout // g, cig, taps)
    if (tap_of == taps).any():
        by_tap = np.concatenate([by_tap, np.zeros((*by_tap.shape[:3], 1), weight.dtype)], axis=3)
    wmats = np.empty((len(offsets), g, cout // g, cig, planes), weight.dtype)
    for i, row in enumerate(tap_of):  # one take per offset: twice as fast as one fancy-index assignment
        np.take(by_tap, row, axis=3, out=wmats[i])
    return offsets, wmats.reshape(len(offsets), g, cout // g, cig * planes)


def _gather_weights(plan: Plan, weight: Array) -> Array:
    """The weight matrix (groups, C_out/g · phases, C_in/g · sources) that maps the stacked
    sources to every output phase at once."""
    g = plan.groups
    sources, entries = plan.sources
    if not plan.params.transposed:  # a convolution's sources are its taps, in kernel order
        cout, cig = weight.shape[:2]
        return weight.reshape(g, cout // g, cig * len(sources))
    cin, cog = weight.shape[:2]
    phases = len(plan.targets)
    w4 = weight.reshape(g, cin // g, cog, -1)
    wmat = np.zeros((g, cog, phases, cin // g, len(sources)), weight.dtype)
    for r, t, u in entries:
        wmat[:, :, r, :, u] = w4[..., t].transpose(0, 2, 1)
    return wmat.reshape(g, cog * phases, -1)


_RUN = {
    ("columns", True): _transpose_columns,
    ("columns", False): _conv_columns,
    ("scatter", True): _flat_scatter,
    ("gather", True): _flat_gather,
    ("gather", False): _flat_gather,
    ("shifts", False): _flat_shifts,
    ("im2col", False): _conv_im2col,
    ("gemm", True): _matrix_product,
    ("gemm", False): _matrix_product,
}
