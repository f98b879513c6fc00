from flask import Blueprint

bp = Blueprint("sites", __name__, url_prefix="/sites", cli_group="sites")
