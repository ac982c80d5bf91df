"""The Diffusion tab: a Qt-free state (:mod:`.model`), the views that subscribe to it
(:mod:`.pipeline_bar`, :mod:`.edit_form`, :mod:`.sampling`, :mod:`.compare`, :mod:`.sweep`,
:mod:`.cones`), the panel that composes them and runs the engine's jobs (:mod:`.panel`), and
the Qt-free glue to the engine (:mod:`.jobs`)."""
