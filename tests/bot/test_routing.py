"""The routing decision from a parse: route, clarify, or out of scope."""

from bot.routing import CLARIFY, NOT_A_SERVICE, OUT_OF_SCOPE, ROUTE, decide


def parse(intent: str, conf: float, ranking: list, confidence: float) -> dict:
    return {"intent": {"name": intent, "confidence": conf}, "intent_ranking": [{"name": intent, "confidence": conf}],
            "service_ranking": ranking, "service_confidence": confidence}


R = [{"id": "T001", "name": "新生儿出生一件事", "score": 0.8, "phrase": ""}, {"id": "T002", "name": "生育登记服务一件事", "score": 0.3, "phrase": ""}]


def test_confident_and_clear_routes() -> None:
    d = decide(parse("ask_service", 0.9, R, 0.95))
    assert d.kind == ROUTE and d.service_id == "T001"
    assert d.as_route_json("q")["out_of_scope"] is False


def test_close_candidates_are_clarified() -> None:
    close = [dict(R[0], score=0.5), dict(R[1], score=0.45)]
    assert decide(parse("ask_service", 0.9, close, 0.6)).kind == CLARIFY


def test_weak_evidence_is_out_of_scope() -> None:
    d = decide(parse("out_of_scope", 0.99, R, 0.05))
    assert d.kind == OUT_OF_SCOPE and d.as_route_json("天气")["out_of_scope"] is True


def test_greeting_is_not_a_service_question() -> None:
    assert decide(parse("greet", 0.98, R, 0.1)).kind == NOT_A_SERVICE


def test_fallback_intent_looks_through_to_the_classifier() -> None:
    p = parse("nlu_fallback", 0.45, R, 0.95)
    p["intent_ranking"] = [{"name": "nlu_fallback", "confidence": 0.45}, {"name": "ask_service", "confidence": 0.4}]
    d = decide(p)
    assert d.intent == "ask_service" and d.kind == ROUTE


def test_a_long_sentence_with_a_number_is_not_a_menu_choice() -> None:
    p = parse("choose_option", 0.7, R, 0.95)
    p["text"] = "4050人员的社保补贴在哪申请"
    assert decide(p).kind == ROUTE
    p["text"] = "2"
    assert decide(p).kind == NOT_A_SERVICE


def test_a_loaded_router_segments_like_the_trained_one() -> None:
    import pickle

    from nlu.service_model import ServiceModel

    model = ServiceModel()
    model.words = ["出生医学证明签发"]
    fresh = pickle.loads(pickle.dumps(model))
    assert "出生医学证明签发" in fresh._words(["出生医学证明签发怎么办"])[0].split(" ")


def test_a_bare_follow_up_names_no_service_whatever_the_ranking_says() -> None:
    p = parse("ask_time", 0.82, R, 0.95)  # the router liked T001 on a generic word
    p["text"] = "办理时限多久"
    assert decide(p).kind == NOT_A_SERVICE
    p["text"] = "新生儿落户办理时限多久"
    assert decide(p).kind == ROUTE
    p["text"] = "收费吗"
    assert decide(p).kind == NOT_A_SERVICE


def test_what_counts_as_naming_something() -> None:
    from bot.routing import names_something

    for bare in ("要带什么材料", "多久能办好", "能网上办吗", "有没有费用", "几点上班", "要复印件吗"):
        assert not names_something(bare), bare
    for named in ("生了娃要办啥", "护照办理时限多久", "公司注销多久", "营业执照收费吗", "退休要多久"):
        assert names_something(named), named
