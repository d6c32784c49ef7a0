"""Integrations with the frameworks users train in; each module needs its optional extra.

- :mod:`easyfirst.integrations.lightning`: ``RecordOutcomes`` and ``CurriculumSampling``
  callbacks for PyTorch Lightning (``pip install 'easyfirst[lightning]'``).

Nothing is imported here, so ``import easyfirst`` never pulls in a framework.
"""
