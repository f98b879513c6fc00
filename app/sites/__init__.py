from flask import Blueprint

bp = Blueprint("sites", __name__, url_prefix="/sites", cli_group="sites")

from app.sites import commands, routes  # noqa: E402,F401

# ``flask observations …`` lives with the data intake, registered with this blueprint
bp.record_once(lambda state: state.app.cli.add_command(commands.observations_cli))
