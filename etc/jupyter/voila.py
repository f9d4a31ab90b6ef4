# Voilà's configuration for the explorer app: `make voila` starts Voilà with
# --Voila.config_file_paths=etc/jupyter (this directory). Not at the repository root: a voila.py
# there would shadow the voila package for any Python started in the root. Each page gets a
# kernel of its own, with its own embedded receiver and its own demo webhook.
import os
from pathlib import Path

from simlib.ui.voila_app import prelaunch

c = get_config()  # noqa: F821 - defined by traitlets when it loads this file

# The "simlib" template (share/jupyter/voila/templates/simlib): the lab template without its
# CDN links, so that the page loads nothing from outside the Voila server.
_share = str(Path(__file__).resolve().parents[2] / "share" / "jupyter")
os.environ["JUPYTER_PATH"] = os.pathsep.join(p for p in (_share, os.environ.get("JUPYTER_PATH")) if p)
c.VoilaConfiguration.template = "simlib"

# A closed page's kernel is shut down at once by the page's beacon (prelaunch sets the _xsrf
# cookie it needs); a page that could not send it (a crashed browser, a lost network) leaves a
# kernel with no connection, which is culled after 10 idle minutes. A kernel with a page still
# connected is never culled.
c.VoilaConfiguration.prelaunch_hook = prelaunch
c.MappingKernelManager.cull_idle_timeout = 600
c.MappingKernelManager.cull_interval = 60
c.MappingKernelManager.cull_connected = False
