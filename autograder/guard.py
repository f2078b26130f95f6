"""Guard cells the grader adds around a submission before running it.

``install_source`` runs first, before any student code: it imports the modules
the tests rely on and snapshots every loaded module of their packages (NumPy's
internals such as ``numpy._core.numeric`` included) and the classes they
define, together with the IPython shell's hooks and the kernel's execution and
messaging machinery (the kernel, its session, output socket and shell and control
streams: their classes, their methods and its message handlers). ``bind_source`` runs right after the
(restored) set-up cell and records which global names refer to modules.

``restore_source`` runs right before every test cell: it puts back every
snapshotted attribute, removes names added to those modules, rebinds the module
names, removes input/AST transformers, custom exception handlers, event
callbacks, trace functions and replaced streams, then prints a per-cell token.
``after_source`` runs right after every test cell: it prints its own token only
if nothing it snapshotted changed while the test ran (a student's function that
patches NumPy when the test calls it), and otherwise names what changed. A test
counts only if both guards printed their tokens.

The guard's functions get new, unpredictable names in every kernel
(:func:`new_prefix`), so student code cannot call, delete or wrap them by name.

This defends against the tampering a student can do by accident or on
purpose with ordinary Python (monkey-patching ``np.allclose``,
``np.testing``, NumPy's internals, ``labs.checks``, the shell's transformers or
exception handlers, the kernel's ``do_execute`` or the session's ``send``,
rebinding a guard by its name). Everything a guard knows lives in the same
process as the student's code, so code written to find both guards (walking
``globals()`` or closures) and wrap them can still make them print their tokens.
Such code cannot hide from its own text: :mod:`autograder.tampering` reads every
student cell outside the kernel, and the tests that ran after a cell able to do
this are withheld (0 points) until a person has looked at it.
"""

from __future__ import annotations

import secrets

GUARD_TAG = "grader-guard"
#: Metadata keys of a guard cell's token: printed before a test (restored) and after it (nothing changed meanwhile).
TOKEN_KEYS = ("grader_token", "grader_after_token")
#: Modules the tests rely on; every loaded module of their packages (``numpy._core.numeric`` too) is snapshotted.
GUARDED_MODULES = ("builtins", "numpy", "numpy.testing", "labs", "labs.checks")
#: Starts the line an after-test guard prints instead of its token when something changed during the test.
CHANGED_PREFIX = "grader-guard-changed: "
#: Names IPython itself rebinds in ``builtins`` around every cell.
VOLATILE_BUILTINS = ("get_ipython", "display", "input", "__IPYTHON__", "_", "__", "___")

_INSTALL = '''
def GUARD_NAME_install():
    import builtins, importlib, linecache, sys
    shell = get_ipython()
    modules = {}
    for name in MODULE_NAMES:
        try:
            modules[name] = importlib.import_module(name)
        except Exception:
            pass
    families = {name.split(".")[0] for name in MODULE_NAMES}
    modules.update({name: module for name, module in list(sys.modules.items())
                    if name.split(".")[0] in families and isinstance(module, type(sys))})
    snapshot = {name: dict(vars(module)) for name, module in modules.items()}
    kernel = getattr(shell, "kernel", None)
    machinery = [shell]
    if kernel is not None:
        machinery += [kernel, kernel.session, kernel.iopub_socket]
        machinery += [part for name in ("shell_stream", "control_stream", "stdin_socket")
                      if (part := getattr(kernel, name, None)) is not None and part not in machinery]
    classes = []
    for part in machinery:
        classes += [cls for cls in type(part).__mro__ if cls is not object and cls not in classes]
    for module in modules.values():
        classes += [value for value in list(vars(module).values()) if isinstance(value, type) and value not in classes
                    and str(getattr(value, "__module__", "")).split(".")[0] in families]
    class_snapshot = [(cls, dict(vars(cls))) for cls in classes]
    tables = [getattr(kernel, name) for name in ("shell_handlers", "control_handlers")
              if isinstance(getattr(kernel, name, None), dict)]
    table_snapshot = [(table, dict(table)) for table in tables]
    hooks = {
        "input_transformers_cleanup": list(shell.input_transformers_cleanup),
        "input_transformers_post": list(shell.input_transformers_post),
        "ast_transformers": list(shell.ast_transformers),
        "line_transforms": list(shell.input_transformer_manager.line_transforms),
        "cleanup_transforms": list(shell.input_transformer_manager.cleanup_transforms),
        "token_transformers": list(shell.input_transformer_manager.token_transformers),
    }
    events = {name: list(callbacks) for name, callbacks in shell.events.callbacks.items()}
    instance_keys = [(part, set(vars(part))) for part in machinery if hasattr(part, "__dict__")]
    streams = (sys.stdout, sys.stderr, sys.excepthook, sys.displayhook)
    bound = {}
    setattr_, delattr_, setitem = builtins.setattr, builtins.delattr, dict.__setitem__

    def bind():
        bound.clear()
        for key, value in list(shell.user_ns.items()):
            if type(value) is type(sys) and not key.startswith("_"):
                bound[key] = value

    cell_sources = []

    def added(name, current):
        return [key for key in current if key not in snapshot[name] and not isinstance(current[key], type(sys))
                and not (key.startswith("__") and key.endswith("__"))] if name != "builtins" else []

    def changed():
        found = [name for name, module in modules.items() if sys.modules.get(name, module) is not module]
        found += [f"{type(part).__name__}.{key}" for part, keys in instance_keys for key, value in vars(part).items()
                  if key not in keys and callable(value)]
        for name, module in modules.items():
            current = vars(module)
            found += [f"{name}.{key}" for key, value in snapshot[name].items()
                      if current.get(key, snapshot) is not value
                      and not (name == "builtins" and key in VOLATILE_BUILTINS)]
            found += [f"{name}.{key}" for key in added(name, current)]
        for cls, saved in class_snapshot:
            current = vars(cls)
            found += [f"{cls.__qualname__}.{key}" for key in set(saved) | set(current)
                      if current.get(key, cls) is not saved.get(key, cls)]
        return sorted(set(found))

    def after(token):
        compiler = shell.compile
        for name in set(linecache.cache) - cell_sources[-1] if cell_sources else ():
            if name in getattr(compiler, "_filename_map", {}):
                linecache.cache.pop(name, None)
                compiler._filename_map.pop(name, None)
        names = changed()
        if names:
            streams[0].write(CHANGED_PREFIX + ", ".join(names[:5]) + "\\n")
        else:
            streams[0].write(TOKEN_PREFIX + token + "\\n")
        streams[0].flush()

    def restore(token):
        sys.settrace(None)
        sys.setprofile(None)
        sys.stdout, sys.stderr, sys.excepthook, sys.displayhook = streams
        for name, module in modules.items():
            setitem(sys.modules, name, module)
            current = vars(module)
            for key, value in snapshot[name].items():
                if current.get(key, snapshot) is not value:
                    setattr_(module, key, value)
            for key in added(name, current):
                delattr_(module, key)
        for cls, saved in class_snapshot:
            for key, value in saved.items():
                if vars(cls).get(key, saved) is not value:
                    try:
                        setattr_(cls, key, value)
                    except (AttributeError, TypeError):
                        pass
            for key in [k for k in vars(cls) if k not in saved]:
                try:
                    delattr_(cls, key)
                except (AttributeError, TypeError):
                    pass
        for part, keys in instance_keys:
            for key in [k for k in vars(part) if k not in keys]:
                if callable(vars(part)[key]):
                    delattr_(part, key)
        for table, saved in table_snapshot:
            table.clear()
            table.update(saved)
        shell.input_transformers_cleanup[:] = hooks["input_transformers_cleanup"]
        shell.input_transformers_post[:] = hooks["input_transformers_post"]
        shell.ast_transformers[:] = hooks["ast_transformers"]
        manager = shell.input_transformer_manager
        manager.line_transforms[:] = hooks["line_transforms"]
        manager.cleanup_transforms[:] = hooks["cleanup_transforms"]
        manager.token_transformers[:] = hooks["token_transformers"]
        shell.custom_exceptions = ()
        for name in list(shell.events.callbacks):
            shell.events.callbacks[name][:] = events.get(name, [])
        for key, value in bound.items():
            setitem(shell.user_ns, key, value)
        cell_sources[:] = [set(linecache.cache)]
        streams[0].write(TOKEN_PREFIX + token + "\\n")
        streams[0].flush()

    return bind, restore, after


GUARD_NAME_bind, GUARD_NAME_restore, GUARD_NAME_after = GUARD_NAME_install()
del GUARD_NAME_install
'''


def new_prefix() -> str:
    """A fresh, unpredictable prefix for the guard's names in one kernel (student code cannot call them by name)."""
    return f"_grader_{secrets.token_hex(6)}"


def install_source(token_prefix: str, prefix: str) -> str:
    """Code of the first guard cell (snapshots); ``token_prefix`` starts every guard token line."""
    return (
        _INSTALL.replace("MODULE_NAMES", repr(GUARDED_MODULES)).replace("TOKEN_PREFIX", repr(token_prefix))
        .replace("CHANGED_PREFIX", repr(CHANGED_PREFIX)).replace("VOLATILE_BUILTINS", repr(VOLATILE_BUILTINS))
        .replace("GUARD_NAME", prefix).strip()
    )


def bind_source(prefix: str) -> str:
    """Code of the guard cell placed after the set-up cell."""
    return f"{prefix}_bind()"


def after_source(token: str, prefix: str) -> str:
    """Code of the guard cell placed after a test cell.

    It drops the test's source from the kernel's line cache (test cells run without
    being stored in the input history ``In``; this removes the last copy a later
    student cell could print), then prints ``token`` only if nothing the guard
    snapshots changed while the test ran (a student's function may patch NumPy when
    the test calls it); otherwise it prints what changed after :data:`CHANGED_PREFIX`.
    """
    return f"{prefix}_after({token!r})"


def restore_source(token: str, prefix: str) -> str:
    """Code of the guard cell placed before a test cell; it prints ``token`` when it ran."""
    return f"{prefix}_restore({token!r})"
