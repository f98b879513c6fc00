from flask import Blueprint

bp = Blueprint("retros", __name__, url_prefix="/retros")
