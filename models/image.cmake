# The shared model-loading layer (safetensors, checked weight loading, model paths, inspect,
# TorchScript) and the image encoders.
target_sources(embedflow_models PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/safetensors.cpp
  ${CMAKE_CURRENT_LIST_DIR}/weights.cpp
  ${CMAKE_CURRENT_LIST_DIR}/model_path.cpp
  ${CMAKE_CURRENT_LIST_DIR}/torchscript_model.cpp
  ${CMAKE_CURRENT_LIST_DIR}/resnet.cpp
  ${CMAKE_CURRENT_LIST_DIR}/inspect.cpp
)
