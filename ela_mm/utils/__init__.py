"""Helpers of the tools, one file per concern: ``config`` (load configs, build models),
``launch`` (arguments, distributed start-up, runner), ``data_check``, ``checkpoint`` (safe
loading, fit checks), ``model_index`` (metafiles and config names), ``timing`` (time and memory),
``flops``, ``synthetic`` (batches without a dataset), ``report`` (machine, Markdown output).
Import the module you need; nothing is imported here."""
