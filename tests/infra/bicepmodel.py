"""Parse infra/*.bicep with pycep-parser and answer the questions the infra tests and CI ask.

Run as a script (``python tests/infra/bicepmodel.py``) it is the parse step of
``scripts/check-infra``: every ``.bicep`` file under ``infra/`` must parse, and
``infra/main.parameters.example.json`` must name only parameters that ``main.bicep`` declares and
give every one that has no default. It exits non-zero on the first kind of failure, after listing
all of them.

pycep renders an identifier and a string literal alike (``principalId: functionPrincipalId`` and
``principalType: 'ServicePrincipal'`` both become plain strings), so the helpers here resolve a
string through the file's variables and parameters where the Bicep language would.

``evaluate`` computes what a variable becomes for given parameters and a given cloud
(``environment()``), for the handful of functions the templates use in names and settings. pycep
gets operator precedence wrong (``a.b == c`` parses as ``a.(b == c)``, ``!a && b`` as
``!(a && b)``), so templates parenthesize or name such sub-expressions.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections import ChainMap
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pycep import BicepParser

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
MAIN = INFRA / "main.bicep"
PARAMETERS_EXAMPLE = INFRA / "main.parameters.example.json"

ROLE_ASSIGNMENT = "Microsoft.Authorization/roleAssignments"
_INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@cache
def _parser() -> BicepParser:
    return BicepParser()


@dataclass(frozen=True)
class BicepFile:
    """One parsed Bicep file: its path and pycep's JSON document."""

    path: Path
    doc: Mapping[str, Any]

    @property
    def name(self) -> str:
        """The path relative to the repository, for messages."""
        return self.path.relative_to(REPO).as_posix()

    def resources(self, type_: str | None = None) -> dict[str, dict[str, Any]]:
        """Symbolic name to resource (``type``, ``api_version``, ``existing``, ``config``)."""
        found = self.doc.get("resources") or {}
        return {k: v for k, v in found.items() if type_ is None or v["type"] == type_}

    def modules(self) -> dict[str, dict[str, Any]]:
        """Symbolic name to module declaration."""
        return dict(self.doc.get("modules") or {})

    def parameters(self) -> dict[str, dict[str, Any]]:
        """Parameter name to declaration (``type``, ``default``, ``decorators``)."""
        return dict(self.doc.get("parameters") or {})

    def variables(self) -> dict[str, Any]:
        """Variable name to its (unresolved) value."""
        return {k: v["value"] for k, v in (self.doc.get("variables") or {}).items()}

    def resolve(self, value: Any) -> Any:
        """A variable's value or a parameter's default in place of its name; anything else as is."""
        if isinstance(value, str):
            variables = self.variables()
            if value in variables:
                return self.resolve(variables[value])
            parameters = self.parameters()
            if value in parameters and parameters[value].get("default") is not None:
                return self.resolve(parameters[value]["default"])
        return value


# environment() in Azure's public cloud and in Azure Government (the parts the templates read):
# learn.microsoft.com/azure/azure-resource-manager/bicep/bicep-functions-deployment#environment
PUBLIC_CLOUD: dict[str, Any] = {
    "name": "AzureCloud",
    "suffixes": {"storage": "core.windows.net", "keyvaultDns": ".vault.azure.net"},
    "authentication": {"loginEndpoint": "https://login.microsoftonline.com/"},
}
US_GOVERNMENT_CLOUD: dict[str, Any] = {
    "name": "AzureUSGovernment",
    "suffixes": {"storage": "core.usgovcloudapi.net", "keyvaultDns": ".vault.usgovcloudapi.net"},
    "authentication": {"loginEndpoint": "https://login.microsoftonline.us/"},
}
_RESOURCE_GROUP = {
    "id": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-rotator",
    "name": "rg-rotator",
    "location": "westeurope",
}


def unique_string(*parts: Any) -> str:
    """A stand-in for Bicep's ``uniqueString``: 13 lower-case letters and digits, deterministic."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return "".join("abcdefghijklmnopqrstuvwxyz234567"[b % 32] for b in digest[:13])


def parse_expression(text: str) -> Any:
    """pycep's tree of one Bicep expression (the inside of a ``${...}`` interpolation)."""
    return _parser().parse(text=f"var value = {text}\n")["variables"]["value"]["value"]


def evaluate(
    file: BicepFile,
    value: Any,
    given: Mapping[str, Any] | None = None,
    environment: Mapping[str, Any] = PUBLIC_CLOUD,
) -> Any:
    """What ``value`` (a node of ``file``) becomes for parameters ``given`` in cloud ``environment``.

    Identifiers resolve to ``given``, then variables, then parameter defaults. A property of a
    resource or module (known only at deployment) becomes the text ``<symbol.path>``. ``given``
    may be any mapping (it is read only for the names the value uses), and a lambda's or a
    for-expression's variable is bound over it.

    Raises:
        KeyError: a parameter without default that ``given`` does not name.
        NotImplementedError: a function or operator this evaluator does not know.
    """
    return _Evaluator(file, given if given is not None else {}, environment).eval(value)


@dataclass(frozen=True)
class _Evaluator:
    file: BicepFile
    given: Mapping[str, Any]
    environment: Mapping[str, Any]

    def eval(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._name_or_text(value)
        if isinstance(value, list):
            return [self.eval(item) for item in value]
        if isinstance(value, dict) and "loop_type" in value:  # [for x in xs: ...]
            detail = value["loop_type"]["detail"]
            items = self.eval(detail["array_name"])
            return [self._bound(detail["item_name"], item).eval(value["config"]) for item in items]
        if isinstance(value, dict) and "function" in value:
            return self._function(value["function"])
        if isinstance(value, dict) and "operator" in value:
            return self._operator(value["operator"])
        if isinstance(value, dict):
            return {key: self.eval(item) for key, item in value.items()}
        return value

    def _bound(self, name: str, item: Any) -> _Evaluator:
        """This evaluator with a lambda's or a loop's variable bound to ``item``."""
        return _Evaluator(self.file, ChainMap({name: item}, dict(self.given)), self.environment)

    def _lambda(self, node: dict[str, Any], item: Any) -> Any:
        detail = node["detail"]
        return self._bound(detail["var_1"], item).eval(detail["expression"])

    def _name_or_text(self, text: str) -> Any:
        if text in self.given:
            return self.given[text]
        variables = self.file.variables()
        if text in variables:
            return self.eval(variables[text])
        parameters = self.file.parameters()
        if text in parameters:
            if parameters[text].get("default") is None:
                raise KeyError(f"{self.file.name}: parameter {text} has no default; give it")
            return self.eval(parameters[text]["default"])
        if "${" in text:
            return re.sub(
                r"\$\{([^}]*)\}", lambda m: _text(self.eval(parse_expression(m.group(1)))), text
            )
        return text

    def _function(self, call: dict[str, Any]) -> Any:
        kind = call["type"]
        if kind == "filter":  # the lambda is evaluated per item, not as an argument
            items = self.eval(call["parameters"]["input_array"])
            return [i for i in items if self._lambda(call["parameters"]["expression"], i)]
        args = [self.eval(a) for a in (call.get("parameters") or {}).values() if a is not None]
        if kind == "environment":
            return dict(self.environment)
        if kind == "resource_group":
            return dict(_RESOURCE_GROUP)
        if kind == "to_lower":
            return str(args[0]).lower()
        if kind == "replace":
            return str(args[0]).replace(str(args[1]), str(args[2]))
        if kind == "take":
            return args[0][: int(args[1])]
        if kind == "unique_string":
            return unique_string(*args)
        if kind == "string":
            return _text(args[0])
        if kind == "empty":
            return not args[0]
        if kind == "concat":
            if all(isinstance(a, list) for a in args):
                return [item for a in args for item in a]
            return "".join(_text(a) for a in args)
        if kind == "list_func":  # listKeys & co.: a secret known only at deployment
            call_parameters = call["parameters"]
            return f"<{call_parameters['func_name']}({self.eval(call_parameters['resource_identifier'])})>"
        if kind == "contains":  # an object's key, an array's item, a string's substring
            return args[1] in args[0]
        if (
            kind == "resource_id"
        ):  # in this resource group: /providers/<ns>/<type>/<name>/<child>/<name>
            parameters = call["parameters"]
            namespace, *types = str(self.eval(parameters["resource_type"])).split("/")
            names = [self.eval(parameters[k]) for k in ("resource_name_1", "resource_name_2")]
            path = "/".join(f"{t}/{n}" for t, n in zip(types, names, strict=False) if n is not None)
            return f"{_RESOURCE_GROUP['id']}/providers/{namespace}/{path}"
        if kind == "starts_with":
            return str(args[0]).startswith(str(args[1]))
        if kind == "split":
            return str(args[0]).split(str(args[1]))
        if kind == "union" and all(isinstance(a, list) for a in args):  # arrays: no duplicates
            return list(dict.fromkeys(item for a in args for item in a))
        if kind == "union":
            merged: dict[str, Any] = {}
            for a in args:
                merged.update(a)
            return merged
        raise NotImplementedError(f"{self.file.name}: function {kind}")

    def _operator(self, operator: dict[str, Any]) -> Any:
        kind, operands = operator["type"], operator["operands"]
        if kind == "property_accessor":
            return self._property(operands)
        if kind == "conditional":
            branch = "true_value" if self.eval(operands["condition"]) else "false_value"
            return self.eval(operands[branch])
        if kind == "not":
            return not self.eval(operands["bool_value"])
        if kind == "minus":  # a negative literal
            return -self.eval(operands["integer_value"])
        if kind == "index_accessor":
            return self.eval(operands["operand_1"])[self.eval(operands["operand_2"])]
        left, right = (self.eval(operands[k]) for k in ("operand_1", "operand_2"))
        if kind == "equals":
            return left == right
        if kind == "not_equals":
            return left != right
        if kind == "and":
            return bool(left and right)
        if kind == "or":
            return bool(left or right)
        raise NotImplementedError(f"{self.file.name}: operator {kind}")

    def _property(self, operands: dict[str, Any]) -> Any:
        base, rest = operands["operand_1"], operands["operand_2"]
        path = []
        while (
            isinstance(rest, dict) and rest.get("operator", {}).get("type") == "property_accessor"
        ):
            path.append(rest["operator"]["operands"]["operand_1"])
            rest = rest["operator"]["operands"]["operand_2"]
        path.append(rest)
        symbols = {**self.file.resources(), **self.file.modules()}
        if isinstance(base, str) and base in symbols and base not in self.given:
            return f"<{base}.{'.'.join(map(str, path))}>"
        found = self.eval(base)
        if isinstance(found, str):  # a value known only at deployment, such as listKeys(...)
            return f"{found}.{'.'.join(map(str, path))}"
        for key in path:
            found = found[str(key)]
        return found


def _text(value: Any) -> str:
    """Bicep's rendering of a value inside a string (``string()``, interpolation)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def parse(path: Path) -> BicepFile:
    """Parse one Bicep file.

    Raises:
        Exception: whatever pycep or lark raise for a file that does not parse.
    """
    return BicepFile(path, _parser().parse(file_path=path))


def bicep_paths(root: Path = INFRA) -> list[Path]:
    """Every ``.bicep`` file under ``root``, sorted."""
    return sorted(root.rglob("*.bicep"))


def parse_all(root: Path = INFRA) -> dict[str, BicepFile]:
    """Every Bicep file under ``root``, parsed, keyed by repository-relative path."""
    parsed = (parse(path) for path in bicep_paths(root))
    return {f.name: f for f in parsed}


def walk(value: Any) -> Iterator[Any]:
    """Every dict, list and scalar inside a pycep document, depth first."""
    yield value
    if isinstance(value, dict):
        for item in value.values():
            yield from walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk(item)


def module_file(parent: BicepFile, module: dict[str, Any]) -> Path:
    """The file a local module declaration points at."""
    relative: str = module["detail"]["path"]
    return (parent.path.parent / relative).resolve()


def body(declaration: dict[str, Any]) -> dict[str, Any]:
    """A resource's or module's body: pycep nests it one level deeper under a condition or a loop."""
    config = declaration["config"]
    while "condition" in config or "loop_type" in config:
        config = config["config"]
    return dict(config)


def condition(declaration: dict[str, Any]) -> Any:
    """A resource's or module's ``if (...)`` condition as pycep renders it; ``None`` without one."""
    return declaration["config"].get("condition")


def module_params(module: dict[str, Any]) -> dict[str, Any]:
    """The ``params`` a module declaration passes (conditional modules nest one level deeper)."""
    return dict(body(module).get("params") or {})


class _ModuleParams(Mapping[str, Any]):
    """A module's parameters as main.bicep passes them, each evaluated when first read."""

    def __init__(
        self,
        parent: BicepFile,
        passed: dict[str, Any],
        given: Mapping[str, Any],
        environment: Mapping[str, Any],
    ) -> None:
        self._parent, self._passed, self._given, self._environment = (
            parent,
            passed,
            given,
            environment,
        )

    def __contains__(self, name: object) -> bool:
        return name in self._passed

    def __getitem__(self, name: str) -> Any:
        return evaluate(self._parent, self._passed[name], self._given, self._environment)

    def __iter__(self) -> Iterator[str]:
        return iter(self._passed)

    def __len__(self) -> int:
        return len(self._passed)


@dataclass(frozen=True)
class Deployed:
    """One resource declaration a deployment creates: ``count`` of them for a loop."""

    file: str
    symbol: str
    type: str
    count: int
    body: dict[str, Any]
    params: Mapping[str, Any]  # what the file's parameters are in this deployment


def deployment(
    files: dict[str, BicepFile],
    given: Mapping[str, Any],
    environment: Mapping[str, Any] = PUBLIC_CLOUD,
) -> list[Deployed]:
    """The resources main.bicep and its modules create for parameters ``given``.

    Conditions of modules and resources are evaluated (module parameters as main.bicep passes
    them) and loops counted; ``existing`` references are left out.

    Raises:
        KeyError, NotImplementedError: as ``evaluate``.
    """
    main = files[MAIN.relative_to(REPO).as_posix()]
    found: list[Deployed] = []

    def created_by(file: BicepFile, params: Mapping[str, Any]) -> None:
        for symbol, resource in file.resources().items():
            test = condition(resource)
            if resource["existing"] or (
                test is not None and not evaluate(file, test, params, environment)
            ):
                continue
            loop = resource["config"].get("loop_type")
            count = 1
            if loop is not None:
                count = len(evaluate(file, loop["detail"]["array_name"], params, environment))
            found.append(
                Deployed(file.name, symbol, resource["type"], count, body(resource), params)
            )

    created_by(main, given)
    for module in main.modules().values():
        test = condition(module)
        if test is not None and not evaluate(main, test, given, environment):
            continue
        target = module_file(main, module).relative_to(REPO).as_posix()
        created_by(files[target], _ModuleParams(main, module_params(module), given, environment))
    return found


def interpolate(template: str, values: dict[str, Any]) -> str:
    """Replace ``${name}`` in a Bicep string with ``values[name]`` where it is known."""
    return _INTERPOLATION.sub(lambda m: str(values.get(m.group(1), m.group(0))), template)


@dataclass(frozen=True)
class RoleAssignment:
    """One role assignment as declared: where it is, what it grants, on what, how it is named."""

    file: str
    symbol: str
    role_definition_id: str
    scope_symbol: str | None
    scope_type: str | None
    name_parts: tuple[Any, ...]
    principal_type: Any


def role_assignments(files: dict[str, BicepFile]) -> list[RoleAssignment]:
    """Every ``Microsoft.Authorization/roleAssignments`` in ``files`` with its scope resolved."""
    found = []
    for bicep in files.values():
        resources = bicep.resources()
        for symbol, resource in bicep.resources(ROLE_ASSIGNMENT).items():
            config = body(resource)
            role = config["properties"]["roleDefinitionId"]
            role_id = role
            if isinstance(role, dict) and "function" in role:
                role_id = bicep.resolve(role["function"]["parameters"]["resource_name_1"])
            scope = config.get("scope")
            if (
                isinstance(scope, dict)
                and scope.get("operator", {}).get("type") == "index_accessor"
            ):
                scope = scope["operator"]["operands"]["operand_1"]  # a loop's scope: symbol[i]
            scope_symbol = scope if isinstance(scope, str) else None
            scope_type = resources[scope_symbol]["type"] if scope_symbol in resources else None
            name = config.get("name")
            parts: tuple[Any, ...] = ()
            if isinstance(name, dict) and name.get("function", {}).get("type") == "guid":
                parts = tuple(name["function"]["parameters"].values())
            found.append(
                RoleAssignment(
                    file=bicep.name,
                    symbol=symbol,
                    role_definition_id=str(role_id),
                    scope_symbol=scope_symbol,
                    scope_type=scope_type,
                    name_parts=parts,
                    principal_type=config["properties"].get("principalType"),
                )
            )
    return found


def parameter_file_problems(
    parameters_file: Path = PARAMETERS_EXAMPLE, main: Path = MAIN
) -> list[str]:
    """What is wrong with the example parameters file against ``main.bicep`` (empty: nothing)."""
    declared = parse(main).parameters()
    given = json.loads(parameters_file.read_text(encoding="utf-8"))["parameters"]
    problems = [
        f"{name}: not a parameter of main.bicep" for name in sorted(set(given) - set(declared))
    ]
    required = {name for name, spec in declared.items() if spec.get("default") is None}
    problems += [
        f"{name}: required by main.bicep but not given" for name in sorted(required - set(given))
    ]
    return problems


def _shown(path: Path) -> str:
    return path.relative_to(REPO).as_posix() if path.is_relative_to(REPO) else str(path)


def main(argv: list[str]) -> int:
    """Parse every Bicep file under infra/ and check the example parameters; 1 on any failure."""
    root = Path(argv[1]).resolve() if len(argv) > 1 else INFRA
    failures = 0
    for path in bicep_paths(root):
        try:
            doc = parse(path).doc
        except Exception as exc:  # pycep raises lark's errors and ValueError alike
            failures += 1
            first_line = (
                str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            )
            print(f"FAIL  {_shown(path)}: {type(exc).__name__}: {first_line}")
            continue
        counts = {key: len(doc.get(key) or {}) for key in ("parameters", "resources", "modules")}
        print(
            f"ok    {_shown(path)} "
            f"({counts['parameters']} parameters, {counts['resources']} resources, {counts['modules']} modules)"
        )
    if root == INFRA:
        problems = parameter_file_problems()
        for problem in problems:
            print(f"FAIL  {_shown(PARAMETERS_EXAMPLE)}: {problem}")
        failures += len(problems)
        if not problems:
            print(f"ok    {_shown(PARAMETERS_EXAMPLE)} (matches main.bicep parameters)")
    if failures:
        print(f"pycep-parser: {failures} failure(s)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
