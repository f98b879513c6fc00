from flask import Blueprint

bp = Blueprint("pilots", __name__, url_prefix="/pilots")
