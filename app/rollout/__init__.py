from flask import Blueprint

bp = Blueprint("rollout", __name__, url_prefix="/rollout")
