"""Identifier rules and name allocation for generated code.

Spec names reach generated source only through this module.  A spec identifier must
fully match :data:`IDENTIFIER`, must not start with ``_`` (every name the generator
makes up lives under that reserved prefix), must not be a Python keyword, and must not
be one of the names generated code relies on (``torch``, ``nn``, ``self``, the
``nn.Module`` API, ...).  :class:`Namespace` hands out unique generated names in the
reserved space, in the spirit of ``torch.fx``'s ``_Namespace``.
"""

from __future__ import annotations

import keyword
import re

IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
GENERATED_PREFIX = "_"

# Names that generated modules import, define or call, and the network class's own
# methods.  A network name is a module-level class and labels and values are attributes
# and locals of forward(), so a spec name spelled like any of these would shadow it.
# tests/test_shadowing.py derives the globals and class members of the generated code of
# every shipped spec, mode and backend, and checks each one is here (or reserved below).
GENERATED_CODE_NAMES = frozenset(
    {
        # modules and imported names
        "torch",
        "nn",
        "F",
        "math",
        "contextlib",
        "triton",  # --backend triton
        "tl",
        "os",
        "annotations",
        "Tensor",
        "Optional",
        "Union",
        # parameters and locals of generated methods that spec expressions can reach
        "self",
        "ctx",
        "grad_output",
        # builtins
        "super",
        "range",
        "zip",
        "len",
        "max",
        "getattr",
        "setattr",
        "isinstance",
        "staticmethod",
        "float",
        "int",
        "bool",
        "str",
        "tuple",
        "list",
        "dict",
        "print",
        "ValueError",
        "RuntimeError",
        "OverflowError",
        # methods of the generated network class beyond nn.Module's
        "forward_chunked",
        # torch.autograd.Function context attributes (surrogate parameters live on ctx)
        "saved_tensors",
        "saved_variables",
        "needs_input_grad",
        "save_for_backward",
        "save_for_forward",
        "mark_dirty",
        "mark_non_differentiable",
        "set_materialize_grads",
        "materialize_grads",
        "to_save",
    }
)

# Attributes of torch.nn.Module (torch 2.x).  A submodule or state named like one of these
# would shadow the Module API.  tests/test_names.py checks this list against the installed
# torch so it cannot drift; it is spelled out here because generation must not import torch.
NN_MODULE_ATTRIBUTES = frozenset(
    """
    T_destination add_module apply bfloat16 buffers call_super_init children compile cpu
    cuda double dump_patches eval extra_repr float forward get_buffer get_extra_state
    get_parameter get_submodule half ipu load_state_dict modules mtia named_buffers
    named_children named_modules named_parameters parameters register_backward_hook
    register_buffer register_forward_hook register_forward_pre_hook
    register_full_backward_hook register_full_backward_pre_hook
    register_load_state_dict_post_hook register_load_state_dict_pre_hook register_module
    register_parameter register_state_dict_post_hook register_state_dict_pre_hook
    requires_grad_ set_extra_state set_submodule share_memory smart_apply state_dict to
    to_empty train training type xpu zero_grad reset
    """.split()
)

# Private attributes of torch.nn.Module: generated attribute names (which start with '_')
# must avoid them too.
NN_MODULE_PRIVATE = frozenset(
    """
    _apply _backward_hooks _backward_pre_hooks _buffers _call_impl _compiled_call_impl
    _forward_hooks _forward_hooks_always_called _forward_hooks_with_kwargs _forward_pre_hooks
    _forward_pre_hooks_with_kwargs _get_backward_hooks _get_backward_pre_hooks _get_name
    _is_full_backward_hook _load_from_state_dict _load_state_dict_post_hooks
    _load_state_dict_pre_hooks _maybe_warn_non_full_backward_hook _modules _named_members
    _non_persistent_buffers_set _parameters _register_load_state_dict_pre_hook
    _register_state_dict_hook _replicate_for_data_parallel _save_to_state_dict _slow_forward
    _state_dict_hooks _state_dict_pre_hooks _version _wrapped_call_impl
    """.split()
)

# Module-level names of generated files and the locals generated code uses.
GENERATED_HELPERS = frozenset(
    {
        "_state",
        "_append_step",
        "_sliding_weight",
        "_delayed",
        "_delayed_seq",
        "_x",
        "_xs",
        "_t",
        "_spikes",
        "_v_seq",
        "_T",
        "_N",
        "_mask",
    }
)

RESERVED = GENERATED_CODE_NAMES | NN_MODULE_ATTRIBUTES


# Words of the spec language that can never be names (the rest of its keywords, such as
# 'state' or 'surrogate', only have meaning where no name can stand).
DSL_KEYWORDS = frozenset(
    {"true", "false", "none", "and", "or", "not", "if", "else", "input", "output"}
)


def identifier_problem(name: str) -> str | None:
    """Why ``name`` cannot be used as a spec identifier, or None when it can."""
    if name.startswith(GENERATED_PREFIX):
        return (
            f"'{name}' starts with '{GENERATED_PREFIX}', which is reserved for names "
            "that snndsl generates"
        )
    if not IDENTIFIER.fullmatch(name):
        return f"'{name}' is not a valid identifier (letters, digits and '_' only)"
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        return f"'{name}' is a Python keyword"
    if name in DSL_KEYWORDS:
        return f"'{name}' is a keyword"
    if name in RESERVED:
        return f"'{name}' would shadow a name that generated code uses"
    return None


def is_valid_identifier(name: str) -> bool:
    return identifier_problem(name) is None


def snake_case(name: str) -> str:
    """``BatchNorm2d`` -> ``batchnorm2d``, ``LIF`` -> ``lif``, ``snntorch.Leaky`` ->
    ``leaky``: the stem of automatic names."""
    return re.sub(r"[^a-z0-9_]", "", name.rsplit(".", 1)[-1].lower()) or "node"


class Namespace:
    """Allocates unique names; reserved and already-used names are never handed out."""

    def __init__(self, reserved: frozenset[str] | set[str] = frozenset()):
        self._used: set[str] = set(reserved) | set(keyword.kwlist)
        self._counters: dict[str, int] = {}

    def reserve(self, name: str) -> None:
        self._used.add(name)

    def __contains__(self, name: str) -> bool:
        return name in self._used

    def fresh(self, stem: str) -> str:
        """``stem`` itself if free, else ``stem_2``, ``stem_3``, ..."""
        if stem not in self._used:
            self._used.add(stem)
            return stem
        return self.numbered(stem, start=2)

    def numbered(self, stem: str, start: int = 1) -> str:
        """``stem_1``, ``stem_2``, ...: the first free numbered name."""
        n = max(self._counters.get(stem, start), start)
        while f"{stem}_{n}" in self._used:
            n += 1
        name = f"{stem}_{n}"
        self._counters[stem] = n + 1
        self._used.add(name)
        return name
