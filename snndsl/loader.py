"""Import generated source as a real module and return its network class.

Each load gets a unique module name (``snndsl_generated.<Net>_<mode>_<digest>_<n>``) and
its source is registered in :mod:`linecache`, so tracebacks and ``inspect`` show the
generated lines.  The module is also placed in ``sys.modules`` so pickling and
``torch.compile`` can find it.
"""

from __future__ import annotations

import hashlib
import itertools
import linecache
import sys
import types

from snndsl.api import build

_COUNTER = itertools.count(1)


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
    return cls


def load_class(
    spec, mode: str = "multi", network: str | None = None, params=None, backend="eager"
) -> type:
    """Generate the ``mode`` form of a spec's network and return the imported class."""
    net, source = build(spec, mode, network, params, backend)
    return import_source(source, net.name, mode)
