import pytest
import torch


@pytest.fixture
def io_of():
    """io_of(model, x, before, after): run ``model(x)`` and return, for every call, (the output
    of a module of type ``before``, the input of the next module of type ``after``), pairing
    them in call order."""

    def run(model, x, before, after):
        seen = []
        hooks = [
            m.register_forward_hook(lambda mod, inp, out: seen.append(('out', out)))
            for m in model.modules()
            if isinstance(m, before)
        ]
        hooks += [
            m.register_forward_hook(lambda mod, inp, out: seen.append(('in', inp[0])))
            for m in model.modules()
            if isinstance(m, after)
        ]
        with torch.no_grad():
            model(x)
        for h in hooks:
            h.remove()
        pairs, last = [], None
        for kind, t in seen:
            if kind == 'out':
                last = t
            else:
                pairs.append((last, t))
        return pairs

    return run
