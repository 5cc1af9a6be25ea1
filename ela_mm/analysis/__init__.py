"""Measuring a model without data (as mmengine's ``analysis`` does), one file per concern:

* ``timing``: interleaved timings, paired ratios, peak memory of a step (``peak_bytes``);
* ``memory``: bytes autograd keeps for backward (``saved_bytes``);
* ``flops``: parameters, MACs and elementwise ops of a built config (``model_cost``);
* ``synthetic``: synthetic batches and train/inference steps for any OpenMMLab scope;
* ``report``: the machine line and Markdown reports of the cost tools;
* ``visualization``: attention maps of a module.

The tools under ``tools/analysis/`` call these. Import the module you need; nothing is imported
here."""
