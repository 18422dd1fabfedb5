"""Import generated source as a real module and return its network class.

Each load gets a unique module name (``snndsl_generated.<Net>_<mode>_<digest>_<n>``) and
its source is registered in :mod:`linecache`, so tracebacks and ``inspect`` show the
generated lines.  The module is also placed in ``sys.modules`` so ``torch.compile`` can
find it.

Pickling: the generated module cannot be imported by name in another process, so each
class gets a ``__reduce_ex__`` that pickles an instance as ``rebuild(source, class name,
mode)`` plus its ``__dict__`` (parameters, buffers, submodules and the neuron state).
Unpickling re-imports the embedded generated source (once per process and source: the
class a ``load`` already made is reused), so ``torch.save(model)`` /
``torch.load(..., weights_only=False)``, ``pickle`` and ``copy.deepcopy`` work in any
process where snndsl is installed, and do not depend on the generator's version.
The generated files themselves stay standalone: nothing is added to their text.
"""

from __future__ import annotations

import hashlib
import itertools
import linecache
import sys
import types

from snndsl.api import build

_COUNTER = itertools.count(1)

# (sha256 of the source, class name) -> the class last imported from that source
_CLASSES: dict[tuple[str, str], type] = {}


def _reduce_ex(self, protocol):
    cls = type(self)
    source = cls.__dict__.get("__snndsl_source__")
    if source is None:  # a user's subclass: pickled by reference, as Python does
        return object.__reduce_ex__(self, protocol)
    return rebuild, (source, cls.__name__, cls.__snndsl_mode__), self.__dict__.copy()


def rebuild(source: str, class_name: str, mode: str):
    """An empty instance of the class generated ``source`` defines (unpickling calls this,
    then ``__setstate__`` with the pickled ``__dict__``)."""
    digest = hashlib.sha256(source.encode("utf-8")).hexdigest()
    cls = _CLASSES.get((digest, class_name))
    if cls is None:
        cls = import_source(source, class_name, mode)
    return cls.__new__(cls)


def import_source(source: str, class_name: str, mode: str) -> type:
    digest = hashlib.sha256(source.encode("utf-8")).hexdigest()[:12]
    module_name = f"snndsl_generated.{class_name}_{mode}_{digest}_{next(_COUNTER)}"
    filename = f"<snndsl:{module_name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    module = types.ModuleType(module_name)
    module.__file__ = filename
    sys.modules[module_name] = module
    code = compile(source, filename, "exec")
    exec(code, module.__dict__)
    cls = getattr(module, class_name)
    cls.__snndsl_source__ = source
    cls.__snndsl_mode__ = mode
    cls.__reduce_ex__ = _reduce_ex
    _CLASSES[(hashlib.sha256(source.encode("utf-8")).hexdigest(), class_name)] = cls
    return cls


def load_class(
    spec, mode: str = "multi", network: str | None = None, params=None, backend="eager"
) -> type:
    """Generate the ``mode`` form of a spec's network and return the imported class."""
    net, source = build(spec, mode, network, params, backend)
    cls = import_source(source, net.name, mode)
    cls.__snndsl_network__ = net  # the resolved IR (exports read it: snndsl.exports.nir)
    return cls
