"""Pages that train: LoFiT head offsets and steering vectors trained with a loss (registered in
the Analyses tab, :mod:`ui.panels.analysis`)."""
