"""The Heads tab: score every head (settings, runs), the map and top-k pick, a head's pattern,
acting on the selected heads, and function vectors. ``panel.HeadsPanel`` is the tab; the
other modules are its parts, and ``jobs.HeadsState`` the Qt-free state they share."""
