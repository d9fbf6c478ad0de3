"""Decodes every golden frame with the generated Python types: the frame's
`type` picks the class (any other type is an application event), the class
decodes it, and the value is turned back into JSON for the test to compare.
Usage: python3 decode.py <module> <dispatch.json> <vectors.json>...; one JSON line per frame.
"""
import enum
import importlib
import json
import sys

module = importlib.import_module(sys.argv[1])
dispatch = json.load(open(sys.argv[2]))


def plain(value):
    """A decoded value as JSON data: Modelina's objects keep fields as `_name`, quicktype's as `name`."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {key: plain(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [plain(inner) for inner in value]
    if hasattr(value, 'to_dict'):
        return plain(value.to_dict())
    if hasattr(value, '__dict__'):
        return {key.lstrip('_'): plain(inner) for key, inner in vars(value).items() if inner is not None}
    return value


def decode(golden):
    out = {'name': golden['name'], 'direction': golden['direction']}
    frame = golden['frame']
    if not isinstance(frame, dict) or not isinstance(frame.get('type'), str):
        out['error'] = 'no type'
        return out
    table = dispatch[golden['direction']]
    variant = table['types'].get(frame['type'], table.get('open'))
    if variant is None:
        out['error'] = 'not a type of this direction'
        return out
    try:
        cls = getattr(module, variant)
        value = cls.from_dict(frame) if hasattr(cls, 'from_dict') else cls(frame)
        out['variant'] = variant
        out['json'] = plain(value)
    except Exception as error:  # a refusal, whatever the generated code raises
        out.pop('variant', None)
        out['error'] = f'{type(error).__name__}: {error}'
    return out


for path in sys.argv[3:]:
    for golden in json.load(open(path)):
        print(json.dumps(decode(golden)))
