"""See the recorded graph behind a tensor: Graphviz DOT text, and a picture through ``dot``.

    import tinygrad_hw as thw
    loss = model(x).sum()
    print(thw.viz.to_dot(loss, params=dict(model.named_parameters())))
    thw.viz.draw(loss, "graph.svg")        # also writes graph.dot

One node per recorded op (its Function's name, output shape and dtype), one per leaf that
requires grad (named from ``params`` when given), and an edge from every input to the op that
reads it, in the direction the values flow. Reading the graph changes and frees nothing.
"""
import os
import shutil
import subprocess
from pathlib import Path

from .tensor import Tensor


def _quote(text):
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _describe(t, show_shapes):
    return f"{tuple(t.shape)} {t.dtype}" if show_shapes else ""


def _saved_arrays(fn):
    """(name, shape, dtype) of the arrays an op kept for its backward."""
    out = []
    for name, value in sorted(vars(fn).items()):
        if name in ("inputs", "xp", "needs_input_grad", "generation") or name.startswith("_"):
            continue
        if hasattr(value, "shape") and hasattr(value, "dtype"):
            out.append((name, tuple(value.shape), value.dtype))
    return out


def to_dot(tensor, params=None, show_shapes=True, show_saved=False):
    """The Graphviz DOT text of the graph that produced ``tensor``.

    ``params`` maps names to leaf tensors (e.g. ``dict(model.named_parameters())``); other leaves
    that require grad are called ``leaf``. ``show_saved`` lists the arrays each op saved for
    backward. Raises RuntimeError when a backward has already freed part of the graph.

    >>> import tinygrad_hw as thw
    >>> w = thw.ones(2, requires_grad=True)
    >>> print(thw.viz.to_dot((w * 3).sum(), params={"w": w}, show_shapes=False))
    digraph {
      graph [rankdir=BT];
      node [fontname="Helvetica", fontsize=10];
      t0 [label="Sum", shape=box, style=filled, fillcolor="#dde8f5"];
      t1 [label="Mul", shape=box, style=filled, fillcolor="#dde8f5"];
      t1 -> t0;
      t2 [label="w", shape=ellipse, style=filled, fillcolor="#e6f2d9"];
      t2 -> t1;
    }
    <BLANKLINE>
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"to_dot expects a Tensor, got {type(tensor).__name__}")
    names = {id(p): n for n, p in (params or {}).items()}
    ids = {}            # id of a node (a Function or a leaf Tensor) -> its DOT name
    lines = ["digraph {", "  graph [rankdir=BT];", '  node [fontname="Helvetica", fontsize=10];']

    def node_id(obj):
        key = id(obj)
        if key not in ids:
            ids[key] = f"t{len(ids)}"
        return ids[key]

    def add_node(t):
        """Declare the node that produced ``t`` (its op, or ``t`` itself for a leaf); its DOT name."""
        fn = t._ctx
        if fn is None:
            label = names.get(id(t), "leaf")
            shape = _describe(t, show_shapes)
            if shape:
                label += "\n" + shape
            lines.append(f"  {node_id(t)} [label={_quote(label)}, "
                         'shape=ellipse, style=filled, fillcolor="#e6f2d9"];')
            return node_id(t)
        if getattr(fn, "released", False) or fn.inputs is None:
            raise RuntimeError(f"to_dot: the graph behind this tensor was freed by backward (at "
                               f"{type(fn).__name__}); draw it before backward, or backward with "
                               "retain_graph=True")
        label = type(fn).__name__
        shape = _describe(t, show_shapes)
        if shape:
            label += "\n" + shape
        if show_saved:
            for name, shp, dt in _saved_arrays(fn):
                label += f"\nsaved {name}: {shp} {dt}"
        lines.append(f"  {node_id(fn)} [label={_quote(label)}, shape=box, style=filled, "
                     'fillcolor="#dde8f5"];')
        return node_id(fn)

    if not tensor.requires_grad:
        add_node(tensor)
        lines.append("}")
        return "\n".join(lines) + "\n"
    seen = set()
    stack = [tensor]
    add_node(tensor)
    seen.add(id(tensor._ctx) if tensor._ctx is not None else id(tensor))
    while stack:            # iterative, so deep graphs do not hit the recursion limit
        t = stack.pop()
        fn = t._ctx
        if fn is None:
            continue
        for inp in fn.inputs:
            if not isinstance(inp, Tensor) or not inp.requires_grad:
                continue            # constants carry no gradient: left out of the picture
            key = id(inp._ctx) if inp._ctx is not None else id(inp)
            if key not in seen:
                seen.add(key)
                add_node(inp)
                stack.append(inp)
            src = node_id(inp._ctx) if inp._ctx is not None else node_id(inp)
            lines.append(f"  {src} -> {node_id(fn)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def draw(tensor, path, **kwargs):
    """Write the graph of ``tensor`` to ``path``: always the DOT text (``path`` with suffix .dot),
    and an SVG or PNG when ``path`` ends so, rendered by Graphviz's ``dot`` program.

    ``kwargs`` go to ``to_dot``. Returns the path written last. Raises RuntimeError naming the
    package to install when ``dot`` is missing (the .dot file is written first).
    """
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in ("dot", "svg", "png"):
        raise ValueError(f"draw: path must end in .dot, .svg or .png, got {path.name!r}")
    dot_path = path.with_suffix(".dot")
    text = to_dot(tensor, **kwargs)
    tmp = dot_path.with_name(dot_path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, dot_path)
    if fmt == "dot":
        return dot_path
    exe = shutil.which("dot")
    if exe is None:
        raise RuntimeError(f"draw: rendering {fmt.upper()} needs Graphviz's 'dot' program, which is not "
                           f"on PATH (Debian/Ubuntu: apt-get install graphviz; conda: graphviz); "
                           f"the DOT text was written to {dot_path}")
    result = subprocess.run([exe, f"-T{fmt}", str(dot_path), "-o", str(path)], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"draw: dot failed on {dot_path}: {result.stderr.strip()}")
    return path
