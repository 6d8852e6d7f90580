"""Running on Ray without hanging, from any host: connecting (``connection``), the pipelines every stage runs
(``pipelines``) and the actor that drives them on the cluster (``runner``). Dagster-free;
``orchestration.resources.RayResource`` opens a connection for a step and says how a stage may use it."""
