# CLIP image and text towers (Hugging Face CLIPModel layout).
target_sources(embedflow_models PRIVATE ${CMAKE_CURRENT_LIST_DIR}/clip.cpp)
